"""Settings: defaults, the file, LENDKIT_* overrides, paths, and one-line start-up errors."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
from lendkit.errors import StartupError
from lendkit.settings import CONFIG_ENV, config_path, load_settings
from pydantic import ValidationError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No LENDKIT_* setting leaks in from the shell or another test."""
    for name in list(os.environ):
        if name.upper().startswith("LENDKIT_") and not name.upper().startswith("LENDKIT_TEST_"):
            monkeypatch.delenv(name)


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "lendkit.toml"
    config.write_text(text, encoding="utf-8")
    return config


def startup_error(config: Path) -> str:
    with pytest.raises(StartupError) as caught:
        load_settings(config)
    detail = caught.value.detail
    assert "\n" not in detail
    return detail


# -- Loading -------------------------------------------------------------


def test_no_file_means_all_defaults_in_the_files_folder(tmp_path):
    settings = load_settings(tmp_path / "lendkit.toml")

    assert settings.root == tmp_path
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 8000
    assert settings.plugins.enabled == []
    assert settings.tenant.slug == "demo"
    assert settings.caps.annual_rate == Decimal("0.24")
    assert settings.caps.per_borrower == Decimal("300000.00")
    assert settings.outbox.max_attempts == 8
    assert settings.database.url is None
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'lendkit.db'}"


def test_the_file_is_found_through_lendkit_config(tmp_path, monkeypatch):
    config = write_config(tmp_path / "tenant", "[server]\nport = 8123\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))

    assert config_path() == config
    assert load_settings().server.port == 8123


def test_without_lendkit_config_the_file_is_lendkit_toml_in_the_working_folder(
    tmp_path, monkeypatch
):
    write_config(tmp_path, '[tenant]\nslug = "acme"\n')
    monkeypatch.chdir(tmp_path)

    assert config_path() == tmp_path / "lendkit.toml"
    assert load_settings().tenant.slug == "acme"


def test_file_values_are_read_and_typed(tmp_path):
    config = write_config(
        tmp_path,
        '[tenant]\nname = "Acme Lending"\nprimary_colour = "#112233"\n'
        '[caps]\nannual_rate = "0.18"\n'
        '[plugins]\nenabled = ["marketing"]\n',
    )
    settings = load_settings(config)

    assert settings.tenant.name == "Acme Lending"
    assert settings.tenant.primary_colour == "#112233"
    assert settings.caps.annual_rate == Decimal("0.18")
    assert settings.plugins.enabled == ["marketing"]


def test_environment_overrides_the_file_with_nested_keys_after_double_underscore(
    tmp_path, monkeypatch
):
    config = write_config(
        tmp_path,
        '[server]\nhost = "0.0.0.0"\nport = 9000\n[database]\nurl = "sqlite:////srv/a.db"\n',
    )
    monkeypatch.setenv("LENDKIT_SERVER__PORT", "9100")
    monkeypatch.setenv("LENDKIT_DATABASE__ECHO", "true")
    monkeypatch.setenv("LENDKIT_PLUGINS__ENABLED", '["marketing"]')
    monkeypatch.setenv("LENDKIT_DATA_DIR", "store")

    settings = load_settings(config)

    assert settings.server.port == 9100
    assert settings.server.host == "0.0.0.0"  # the rest of the section still comes from the file
    assert settings.database.echo is True
    assert settings.database.url == "sqlite:////srv/a.db"
    assert settings.plugins.enabled == ["marketing"]
    assert settings.data_dir == "store"


def test_relative_data_dir_resolves_against_the_config_files_folder(tmp_path, monkeypatch):
    config = write_config(tmp_path / "tenant", 'data_dir = "store"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    settings = load_settings(config)

    assert settings.database_url == f"sqlite:///{tmp_path / 'tenant' / 'store' / 'lendkit.db'}"
    assert settings.path("keys/master.key") == tmp_path / "tenant" / "keys" / "master.key"


def test_absolute_data_dir_is_kept(tmp_path):
    config = write_config(tmp_path / "tenant", f'data_dir = "{tmp_path / "abs"}"\n')

    assert load_settings(config).database_url == f"sqlite:///{tmp_path / 'abs' / 'lendkit.db'}"


def test_relative_sqlite_url_resolves_against_the_config_files_folder(tmp_path, monkeypatch):
    config = write_config(tmp_path / "tenant", '[database]\nurl = "sqlite:///db/main.db"\n')
    monkeypatch.chdir(tmp_path)

    assert load_settings(config).database_url == f"sqlite:///{tmp_path / 'tenant/db/main.db'}"


def test_postgresql_urls_are_normalised_to_psycopg(tmp_path):
    config = write_config(tmp_path, '[database]\nurl = "postgresql://app:pw@db.internal/lend"\n')

    assert load_settings(config).database_url == "postgresql+psycopg://app:pw@db.internal/lend"


def test_settings_are_immutable(tmp_path):
    settings = load_settings(tmp_path / "lendkit.toml")

    with pytest.raises(ValidationError):
        settings.server.port = 1


# -- One clear line for every mistake ------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[server]\nprot = 80\n", "lendkit.toml: unknown setting 'server.prot'"),
        ('dat_dir = "x"\n', "lendkit.toml: unknown setting 'dat_dir'"),
        ("[sever]\nport = 80\n", "lendkit.toml: unknown setting 'sever'"),
        (
            '[server]\nport = "eighty"\n',
            "lendkit.toml: server.port = 'eighty': Input should be a valid integer",
        ),
        (
            "[server]\nport = 70000\n",
            "lendkit.toml: server.port = 70000: Input should be less than or equal to 65535",
        ),
        (
            '[caps]\nannual_rate = "abc"\n',
            "lendkit.toml: caps.annual_rate = 'abc': Input should be a valid decimal",
        ),
        (
            '[caps]\nannual_rate = "1.5"\n',
            "lendkit.toml: caps.annual_rate = '1.5': Input should be less than 1",
        ),
        (
            '[database]\nurl = "mysql://x"\n',
            "lendkit.toml: database.url = 'mysql://x': expected a sqlite or postgresql URL, not 'mysql'",
        ),
        (
            '[database]\nurl = "not a url"\n',
            "lendkit.toml: database.url = 'not a url': expected a URL like sqlite:///",
        ),
        (
            '[tenant]\nprimary_colour = "red"\n',
            "lendkit.toml: tenant.primary_colour = 'red': expected a colour like #1f6feb",
        ),
        (
            '[plugins]\nenabled = ["Marketing"]\n',
            "lendkit.toml: plugins.enabled.0 = 'Marketing': String should match pattern",
        ),
        ("[server\nport = 1\n", "lendkit.toml: not valid TOML: "),
    ],
    ids=[
        "typo-in-section",
        "typo-at-top",
        "typo-in-section-name",
        "port-not-a-number",
        "port-out-of-range",
        "rate-not-a-number",
        "rate-above-one",
        "mysql-url",
        "not-a-url",
        "colour",
        "plugin-name",
        "invalid-toml",
    ],
)
def test_a_bad_file_is_one_line_naming_the_key_and_the_problem(tmp_path, text, expected):
    assert startup_error(write_config(tmp_path, text)).startswith(expected)


@pytest.mark.parametrize("value", ["true", "false"])
def test_the_retired_sms_sandbox_setting_says_it_is_a_plugin_now(tmp_path, value, monkeypatch):
    config = write_config(tmp_path, f"[auth]\nnotification_sandbox = {value}\n")

    assert startup_error(config) == (
        "lendkit.toml: unknown setting 'auth.notification_sandbox': the SMS sandbox is now "
        "the `sms-sandbox` plugin: delete this key; on a demo or test tenant only, add "
        '"sms-sandbox" to [plugins] enabled'
    )
    # From the environment too, naming the variable.
    monkeypatch.setenv("LENDKIT_AUTH__NOTIFICATION_SANDBOX", "true")
    detail = startup_error(write_config(tmp_path / "env", ""))
    assert detail.startswith("LENDKIT_AUTH__NOTIFICATION_SANDBOX: unknown setting")
    assert "`sms-sandbox` plugin" in detail


def test_the_retired_channel_section_says_where_it_moved(tmp_path):
    config = write_config(tmp_path, '[payments.channels.sandbox]\nurl = "http://x"\n')

    assert startup_error(config) == (
        "lendkit.toml: unknown setting 'payments.channels': a channel's options are its "
        "plugin's own now: move [payments.channels.sandbox] to "
        "[plugins.options.channel-sandbox] (the keys are the same)"
    )


# -- A plugin's own section: [plugins.options.<name>] ----------------------


def open_with(tmp_path: Path, text: str):
    from lendkit.runtime import open_runtime

    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = write_config(tmp_path, f'[database]\nurl = "{database}"\n{text}')
    return open_runtime(config=config)


def options_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(StartupError) as caught:
        open_with(tmp_path, text)
    assert "\n" not in caught.value.detail
    return caught.value.detail


def test_a_plugins_options_are_validated_by_its_model_and_read_typed(tmp_path):
    from lendkit.plugin_options import plugin_options
    from lendkit_channel_sandbox.plugin import Options

    runtime = open_with(
        tmp_path,
        '[plugins]\nenabled = ["channel-sandbox"]\n'
        '[plugins.options.channel-sandbox]\nurl = "http://127.0.0.1:9"\ntimeout = 3\n',
    )
    try:
        options = plugin_options(runtime.settings, "channel-sandbox", Options)
        assert (options.url, options.timeout, options.secret) == (
            "http://127.0.0.1:9",
            3.0,
            Options().secret,
        )
        assert runtime.settings.plugins.options["channel-sandbox"] is options
    finally:
        runtime.close()


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            'timeout = "soon"',
            "plugins.options.channel-sandbox.timeout = 'soon': Input should be a valid number",
        ),
        ("timeout = 0", "plugins.options.channel-sandbox.timeout = 0: Input should be greater"),
        ("colour = 1", "unknown setting 'plugins.options.channel-sandbox.colour'"),
    ],
    ids=["wrong-type", "out-of-range", "unknown-key"],
)
def test_bad_plugin_options_stop_start_up_with_one_line(tmp_path, section, expected):
    text = (
        f'[plugins]\nenabled = ["channel-sandbox"]\n[plugins.options.channel-sandbox]\n{section}\n'
    )
    assert options_error(tmp_path, text).startswith(expected)


def test_a_section_for_a_plugin_without_options_is_refused_and_a_disabled_ones_kept(tmp_path):
    text = '[plugins]\nenabled = ["sms-sandbox"]\n[plugins.options.sms-sandbox]\nx = 1\n'
    assert options_error(tmp_path / "a", text) == (
        "plugins.options.sms-sandbox: the 'sms-sandbox' plugin takes no options; "
        "delete this section"
    )
    runtime = open_with(tmp_path / "b", "[plugins.options.channel-sandbox]\ncolour = 1\n")
    try:
        assert runtime.settings.plugins.options == {"channel-sandbox": {"colour": 1}}
    finally:
        runtime.close()


def test_a_file_that_is_not_utf8_is_reported_as_invalid_toml(tmp_path):
    config = tmp_path / "lendkit.toml"
    config.write_bytes(b"\xff\xfe[server]\n")

    assert startup_error(config).startswith("lendkit.toml: not valid TOML: ")


def test_a_database_password_never_appears_in_the_error(tmp_path):
    config = write_config(tmp_path, '[database]\nurl = "postgresql+asyncpg://app:s3cret@h/db"\n')

    detail = startup_error(config)

    assert detail == (
        "lendkit.toml: database.url = 'postgresql+asyncpg://app:***@h/db': "
        "unsupported driver 'asyncpg' (use psycopg)"
    )


def test_a_bad_environment_value_names_the_variable(tmp_path, monkeypatch):
    config = write_config(tmp_path, "[server]\nport = 9000\n")
    monkeypatch.setenv("LENDKIT_SERVER__PORT", "eighty")

    assert startup_error(config).startswith(
        "LENDKIT_SERVER__PORT: server.port = 'eighty': Input should be a valid integer"
    )


def test_a_list_in_the_environment_that_is_not_json_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("LENDKIT_PLUGINS__ENABLED", "marketing")

    detail = startup_error(tmp_path / "lendkit.toml")

    assert '"plugins"' in detail
    assert "expected JSON" in detail


# -- The same mistakes through the real command line ---------------------

UNREACHABLE = "postgresql://lender:s3cret@127.0.0.1:1/lendkit"

# id: (command, lendkit.toml, what the one line must say)
BROKEN_TENANTS = {
    "unknown-plugin": (
        "serve",
        '[plugins]\nenabled = ["nosuch"]\n',
        "plugins.enabled: unknown plugin 'nosuch' (installed: ",
    ),
    "mysql-url": (
        "db current",
        '[database]\nurl = "mysql://x"\n',
        "database.url = 'mysql://x': expected a sqlite or postgresql URL",
    ),
    "not-a-url": (
        "serve",
        '[database]\nurl = "not a url"\n',
        "database.url = 'not a url': expected a URL like",
    ),
    "port-type": (
        "serve",
        '[server]\nport = "eighty"\n',
        "server.port = 'eighty': Input should be a valid integer",
    ),
    "rate-type": (
        "db current",
        '[caps]\nannual_rate = "abc"\n',
        "caps.annual_rate = 'abc': Input should be a valid decimal",
    ),
    "unknown-key": ("serve", "[server]\nprot = 80\n", "unknown setting 'server.prot'"),
    "retired-key": (
        "db current",
        "[auth]\nnotification_sandbox = true\n",
        "unknown setting 'auth.notification_sandbox': the SMS sandbox is now the `sms-sandbox` plugin",
    ),
    "invalid-toml": ("db current", "[server\nport = 1\n", "lendkit.toml: not valid TOML: "),
    "unreachable-postgresql": (
        "serve",
        f'[database]\nurl = "{UNREACHABLE}"\n',
        "database.url = 'postgresql+psycopg://lender:***@127.0.0.1:1/lendkit': cannot connect",
    ),
}


@pytest.fixture(scope="module")
def broken_tenant_runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess[str]]:
    """`lendkit` run for real on each broken tenant, several processes at a time."""
    clean = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith("LENDKIT_") or name.upper().startswith("LENDKIT_TEST_")
    }

    def run(case: str) -> subprocess.CompletedProcess[str]:
        command, text, _ = BROKEN_TENANTS[case]
        config = write_config(tmp_path_factory.mktemp(case), text)
        return subprocess.run(
            [sys.executable, "-m", "lendkit", *command.split()],
            capture_output=True,
            text=True,
            timeout=90,
            env={**clean, CONFIG_ENV: str(config)},
            check=False,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(BROKEN_TENANTS, pool.map(run, BROKEN_TENANTS), strict=True))


@pytest.mark.parametrize("case", BROKEN_TENANTS)
def test_the_cli_stops_with_one_line_and_exit_code_2(broken_tenant_runs, case):
    result = broken_tenant_runs[case]
    expected = BROKEN_TENANTS[case][2]

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("lendkit: error: ")
    assert expected in lines[0]
    assert "s3cret" not in result.stderr
