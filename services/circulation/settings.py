from pydantic_settings import SettingsConfigDict

from libs.common.settings import CommonSettings


class CirculationSettings(CommonSettings):
    """ILLFED_CIRCULATION_* (falls back to nothing: each library process sets its own URL)."""

    model_config = SettingsConfigDict(env_prefix="ILLFED_CIRCULATION_", extra="ignore")
    library: str = "hkpl"
