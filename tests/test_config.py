import pytest
from pydantic import ValidationError

from backend.app.config import Settings, get_settings, settings_or_exit


def test_defaults_make_a_fast_healthy_backend(monkeypatch):
    for name in ("BACKEND_API_LATENCY_MS", "BACKEND_PROCESSING_MS", "BACKEND_FAILURE_RATIO"):
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    assert (s.api_latency_ms, s.processing_ms, s.failure_ratio) == (0, 50.0, 0.0)


def test_api_latency_is_read_in_whole_milliseconds(monkeypatch):
    monkeypatch.setenv("BACKEND_API_LATENCY_MS", "2")
    assert Settings().api_latency_ms == 2


def test_a_fraction_of_a_millisecond_of_api_latency_is_refused_not_rounded_to_nothing(monkeypatch):
    monkeypatch.setenv("BACKEND_API_LATENCY_MS", "0.5")
    with pytest.raises(ValidationError, match="api_latency_ms"):
        Settings()


def test_a_lease_shorter_than_the_work_is_refused(monkeypatch):
    monkeypatch.setenv("BACKEND_PROCESSING_MS", "500")
    monkeypatch.setenv("BACKEND_LEASE_S", "0.2")
    with pytest.raises(ValidationError, match="BACKEND_LEASE_S must exceed"):
        Settings()


def test_entry_points_name_every_bad_variable_and_exit_2_without_a_traceback(monkeypatch, capsys):
    monkeypatch.setenv("BACKEND_API_LATENCY_MS", "0.5")
    monkeypatch.setenv("BACKEND_LEASE_S", "soon")
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as stopped:
            settings_or_exit()
    finally:
        get_settings.cache_clear()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "BACKEND_API_LATENCY_MS='0.5': Input should be a valid integer" in err
    assert "BACKEND_LEASE_S='soon': Input should be a valid number" in err
    assert "Traceback" not in err
