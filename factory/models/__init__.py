"""Models behind one scikit-learn-style contract, found by key in a registry.

Importing this package registers every model but imports no heavy framework (XGBoost, LightGBM, torch):
each model imports its library inside the methods that need it (the deep models build their torch modules on
first use).

Example::

    from factory.models import create_model, list_models
    model = create_model("lightgbm", n_estimators=200).fit(X_train, y_train, eval_set=(X_val, y_val))
"""

from factory.models.base import FactoryModel, ModelConfig
from factory.models.registry import create_model, get_model_class, list_models, load_model, model_info, register_model

# One import per model: importing the module registers it.
from factory.models.boosting import lightgbm as _lightgbm  # noqa: F401,E402  "lightgbm"
from factory.models.boosting import xgboost as _xgboost  # noqa: F401,E402  "xgboost"
from factory.models.classical import logistic as _logistic  # noqa: F401,E402  "logistic"
from factory.models.ensembles import voting as _voting  # noqa: F401,E402  "voting"
from factory.models.ensembles import stacking as _stacking  # noqa: F401,E402  "stacking"
from factory.models.recurrent_conv import lstm as _lstm  # noqa: F401,E402  "lstm"
from factory.models.recurrent_conv import tcn as _tcn  # noqa: F401,E402  "tcn"
from factory.models.recurrent_conv import timesnet as _timesnet  # noqa: F401,E402  "timesnet"
from factory.models.attention import autoformer as _autoformer  # noqa: F401,E402  "autoformer"
from factory.models.attention import itransformer as _itransformer  # noqa: F401,E402  "itransformer"
from factory.models.attention import patchtst as _patchtst  # noqa: F401,E402  "patchtst"
from factory.models.ssm_mlp import dlinear as _dlinear  # noqa: F401,E402  "dlinear"
from factory.models.ssm_mlp import nbeats as _nbeats  # noqa: F401,E402  "nbeats"
from factory.models.ssm_mlp import nhits as _nhits  # noqa: F401,E402  "nhits"
from factory.models.ssm_mlp import s_mamba as _s_mamba  # noqa: F401,E402  "s_mamba"
from factory.models.ssm_mlp import tide as _tide  # noqa: F401,E402  "tide"
from factory.models.foundation import chronos_bolt as _chronos_bolt  # noqa: F401,E402  "chronos_bolt"
from factory.models.foundation import timesfm as _timesfm  # noqa: F401,E402  "timesfm"

from factory.models.config import create_model_from_config, load_model_config  # noqa: E402

__all__ = [
    "FactoryModel",
    "ModelConfig",
    "create_model",
    "create_model_from_config",
    "get_model_class",
    "list_models",
    "load_model",
    "load_model_config",
    "model_info",
    "register_model",
]
