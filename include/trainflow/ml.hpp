// trainflow's ML stage library: datasets, CSV and IDX ingestion, splits, synthetic data,
// imputation, scaling, encoding, the fused column transformer, linear and logistic regression,
// MLPs on oneDNN, predictions, metrics, evaluation and gates, and the built-in stage types.
//
// Separate from trainflow.hpp because it brings in Eigen.
#pragma once

#include "trainflow/ml/column_transformer.hpp"
#include "trainflow/ml/csv.hpp"
#include "trainflow/ml/dataset.hpp"
#include "trainflow/ml/encode.hpp"
#include "trainflow/ml/evaluate.hpp"
#include "trainflow/ml/gate.hpp"
#include "trainflow/ml/idx.hpp"
#include "trainflow/ml/impute.hpp"
#include "trainflow/ml/linear.hpp"
#include "trainflow/ml/logistic.hpp"
#include "trainflow/ml/metrics.hpp"
#include "trainflow/ml/mlp.hpp"
#include "trainflow/ml/model.hpp"
#include "trainflow/ml/scale.hpp"
#include "trainflow/ml/split.hpp"
#include "trainflow/ml/stages.hpp"
#include "trainflow/ml/synthetic.hpp"
