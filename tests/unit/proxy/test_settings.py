import pytest

from luthien_litellm_plugin.policies.all_caps import AllCapsPolicy
from luthien_litellm_plugin.policies.block_tools import BlockToolsPolicy
from luthien_litellm_plugin.policies.chain import ChainPolicy
from luthien_litellm_plugin.proxy.model_policies import model_policies
from luthien_litellm_plugin.proxy.settings import ConfigError, load_plugin_config


def test_builds_named_policies_and_keeps_option_free_builtins() -> None:
    config = load_plugin_config(
        {
            "default_policy": "passthrough",
            "policies": {
                "shout": {"class": "all_caps"},
                "no_shell": {"class": "block_tools", "options": {"tools": ["bash", "shell"]}},
                "mine": {"class": "luthien_litellm_plugin.policies.all_caps:AllCapsPolicy"},
            },
            "stream_idle_timeout_seconds": 12,
        }
    )
    assert isinstance(config.policies["shout"], AllCapsPolicy) and config.policies["shout"].name == "shout"
    no_shell = config.policies["no_shell"]
    assert isinstance(no_shell, BlockToolsPolicy) and no_shell.options.tools == ["bash", "shell"]
    assert isinstance(config.policies["mine"], AllCapsPolicy)
    assert {"passthrough", "all_caps"} <= set(config.policies)
    assert config.settings.stream_idle_timeout_seconds == 12


def test_environment_references_are_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUTHIEN_TEST_TOOL", "bash")
    config = load_plugin_config(
        {"policies": {"p": {"class": "block_tools", "options": {"tools": ["os.environ/LUTHIEN_TEST_TOOL"]}}}}
    )
    policy = config.policies["p"]
    assert isinstance(policy, BlockToolsPolicy) and policy.options.tools == ["bash"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"policies": {"x": {"class": "block_tools", "options": {"tools": "bash"}}}},
            "callback_settings.luthien.policies.x.options.tools",
        ),
        (
            {"policies": {"x": {"class": "nope"}}},
            "callback_settings.luthien.policies.x.class: unknown policy class 'nope'",
        ),
        (
            {"policies": {"x": {"class": "no_such_module:Thing"}}},
            "callback_settings.luthien.policies.x.class: cannot import module",
        ),
        (
            {"policies": {"x": {"class": "block_tools", "options": {"arguments_pattern": "("}}}},
            "options.arguments_pattern",
        ),
        ({"default_policy": "ghost"}, "callback_settings.luthien.default_policy: unknown policy 'ghost'"),
        ({"stream_idle_timeout_seconds": 0}, "callback_settings.luthien.stream_idle_timeout_seconds"),
        ({"polices": {}}, "callback_settings.luthien.polices"),
        (
            {"policies": {"x": {"class": "all_caps", "options": {"a": 1}}}},
            "callback_settings.luthien.policies.x.options: policy class 'all_caps' takes no options",
        ),
        (
            {"policies": {"x": {"class": "block_tools", "options": {"tools": ["os.environ/LUTHIEN_UNSET_VAR"]}}}},
            "callback_settings.luthien.policies.x.options.tools[0]: environment variable LUTHIEN_UNSET_VAR is not set",
        ),
        (
            {"policies": {"g": {"chain": ["all_caps", "ghost"]}}},
            "callback_settings.luthien.policies.g.chain[1]: unknown policy 'ghost' (known: all_caps, g, passthrough)",
        ),
        (
            {"policies": {"a": {"chain": ["all_caps", "b"]}, "b": {"chain": ["a"]}}},
            "callback_settings.luthien.policies.b.chain: chains form a cycle (a → b → a)",
        ),
        (
            {"policies": {"a": {"chain": ["a"]}}},
            "callback_settings.luthien.policies.a.chain: chains form a cycle (a → a)",
        ),
        ({"policies": {"a": {"chain": []}}}, "callback_settings.luthien.policies.a.chain: List should have at least 1"),
        ({"policies": {"a": {}}}, "callback_settings.luthien.policies.a: Value error, set either `class`"),
        (
            {"policies": {"a": {"class": "all_caps", "chain": ["all_caps"]}}},
            "callback_settings.luthien.policies.a: Value error, set either `class`",
        ),
        (
            {"policies": {"a": {"chain": ["all_caps"], "options": {"x": 1}}}},
            "callback_settings.luthien.policies.a: Value error, a `chain` takes no `options`",
        ),
    ],
)
def test_invalid_configuration_names_the_yaml_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_plugin_config(raw)
    assert message in str(raised.value)


def test_model_groups_map_to_policies_and_must_agree() -> None:
    known = {"passthrough", "shout"}
    models = [
        {"model_name": "a", "model_info": {"luthien_policy": "shout"}},
        {"model_name": "a", "model_info": {"luthien_policy": "shout"}},
        {"model_name": "b"},
    ]
    assert model_policies(models, known, "passthrough") == {"a": "shout", "b": "passthrough"}
    with pytest.raises(ConfigError, match=r"model_list\[1\].model_info.luthien_policy: model group 'a'"):
        model_policies([models[0], {"model_name": "a"}], known, "passthrough")
    with pytest.raises(ConfigError, match=r"model_list\[0\].model_info.luthien_policy: unknown policy 'zzz'"):
        model_policies([{"model_name": "a", "model_info": {"luthien_policy": "zzz"}}], known, "passthrough")


def test_blocked_request_response_is_error_by_default_and_validated() -> None:
    assert load_plugin_config({}).settings.blocked_request_response == "error"
    assert load_plugin_config({"blocked_request_response": "message"}).settings.blocked_request_response == "message"
    with pytest.raises(ConfigError, match=r"callback_settings\.luthien\.blocked_request_response: Input should be"):
        load_plugin_config({"blocked_request_response": "silence"})


def test_chains_name_configured_policies_in_order_and_may_nest() -> None:
    config = load_plugin_config(
        {
            "policies": {
                "outer": {"chain": ["no_shell", "inner"]},
                "inner": {"chain": ["all_caps", "passthrough"]},
                "no_shell": {"class": "block_tools", "options": {"tools": ["bash"]}},
            }
        }
    )
    outer = config.policies["outer"]
    assert isinstance(outer, ChainPolicy) and outer.name == "outer"
    assert [member.name for member in outer.members] == ["no_shell", "all_caps", "passthrough"]
    assert outer.members[0] is config.policies["no_shell"]
    assert not config.is_passthrough("outer")
