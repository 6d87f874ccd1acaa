"""rakubun-dashboard: the credits and payments API of the Rakubun WordPress plugin."""

from .app import create_app
from .context import Services
from .settings import Settings

__all__ = ["Services", "Settings", "create_app"]
