// The built-in ML stage types, as registered in trainflow::default_registry(), and the value
// types on their ports.
//
// Port types: ml::Dataset for tables; ml::ModelPtr for fitted models (any Model); ml::Metrics for
// evaluation results; the fitted state of each transformer (FittedImputer, FittedScaler, ...).
//
// Every stage type, its parameters (type, default, range, doc) and ports are listed by
// `trainflow stages` and in docs/stages.md. In short:
//
//   ingestion       read_csv, read_idx, synthetic
//   splits          split (train, val, test), kfold
//   transformers    impute, standard_scaler, minmax_scaler, robust_scaler, one_hot, ordinal,
//                   column_transformer: fit on input `train`; also transform the optional inputs
//                   `val` and `test` with that fit; outputs train, [val], [test], fitted
//   models          linear_regression, logistic_regression, mlp_classifier, mlp_regressor:
//                   input train (and optional val where early stopping uses it); output model
//   use             predict (model, data -> predictions), evaluate (model, data -> metrics),
//                   gate (metrics -> metrics; fails the run when a condition does not hold),
//                   write_csv (data -> nothing; writes the file atomically)
//
// Stages use StageContext::threads() threads for their kernels and StageContext::seed() where a
// `seed` parameter is not given, so results depend on the run seed and the stage's name only.
#pragma once

#include <memory>

#include "trainflow/ml/dataset.hpp"
#include "trainflow/ml/evaluate.hpp"
#include "trainflow/ml/model.hpp"

namespace trainflow {
class StageRegistry;
}

namespace trainflow::ml {

using ModelPtr = std::shared_ptr<const Model>;

// Adds the built-in ML stage types to `registry` (default_registry() already has them). Fails
// with kAlreadyExists when one of the names is taken.
Status register_ml_stages(StageRegistry& registry);

}  // namespace trainflow::ml
