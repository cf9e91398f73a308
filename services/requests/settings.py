from pydantic_settings import SettingsConfigDict

from libs.common.settings import CommonSettings


class RequestsSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="ILLFED_REQUESTS_", extra="ignore")
