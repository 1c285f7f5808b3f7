"""The remote client's tests run a real `hashwarden serve` (tests/service/test_serve.py) over the service tests'
store, with their images."""

from tests.service.conftest import images  # noqa: F401 - the fixture, shared
