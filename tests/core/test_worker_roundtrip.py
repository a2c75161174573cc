import pytest

from core.tasks import ping


@pytest.mark.worker
@pytest.mark.django_db
def test_a_real_worker_executes_a_task_over_redis(celery_worker_process, settings):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert not getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)
    results = [ping.delay(f"n{i}") for i in range(5)]
    assert [r.get(timeout=30)["pong"] for r in results] == [f"n{i}" for i in range(5)]
