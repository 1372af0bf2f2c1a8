"""The file MLflow logs as the model's code ("models from code"): it only names the pyfunc to serve."""

import mlflow

from factory.packaging.pyfunc import FactoryPyfunc

mlflow.models.set_model(FactoryPyfunc())
