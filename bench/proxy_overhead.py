"""What the plugin costs against stock LiteLLM Proxy, one run, paired rounds: see `bench.overhead.cli`."""

from bench.overhead.cli import main

if __name__ == "__main__":
    main()
