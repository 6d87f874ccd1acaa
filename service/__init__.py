"""rakubun-dashboard: the credits and payments API of the Rakubun WordPress plugin."""

from .context import Services
from .http.app import create_app
from .settings import Settings

__all__ = ["Services", "Settings", "create_app"]
