// Private to mlp.cpp (and its tests): the parameters of a perceptron and the oneDNN network that
// runs them, forward for inference, forward and backward for training.
//
// Layout. Layer l maps sizes[l] inputs to sizes[l + 1] outputs; its weights are sizes[l + 1] x
// sizes[l] row-major (oneDNN's "oi"), its biases sizes[l + 1] ("x"), every batch of activations
// rows x width row-major ("nc"). Plain layouts everywhere, so oneDNN's memory objects wrap the
// parameter and gradient vectors directly (no reorders, no copies) and an optimiser can update
// the vectors in place between steps.
//
// Threads: an MlpNetwork runs oneDNN primitives on the calling thread's OpenMP thread count;
// callers hold an OmpThreads scope around construction and every call. An MlpNetwork is not
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/ml/mlp.hpp"

namespace trainflow::ml::detail {

class Random;

enum class MlpOutput : std::uint8_t { kSoftmax, kIdentity };

struct MlpParameters {
  // {inputs, hidden widths..., outputs}; at least two entries, each >= 1.
  std::vector<std::size_t> sizes;
  // One per layer (sizes.size() - 1 of each), shapes as above.
  std::vector<std::vector<float>> weights;
  std::vector<std::vector<float>> biases;
};

// Parameters of the given shape initialised like scikit-learn: layer l's weights, then its
// biases, each ~ U(-s, s) with s = sqrt(6 / (sizes[l] + sizes[l + 1])), drawn in row-major
// order from `random` (uniform doubles rounded to float).
MlpParameters glorot_parameters(std::span<const std::size_t> sizes, Random& random);

// Gradients of the batch loss with respect to every parameter, shaped like MlpParameters.
struct MlpGradients {
  std::vector<std::vector<float>> weights;
  std::vector<std::vector<float>> biases;
};

class MlpNetwork {
 public:
  // A network over `params` for batches of up to `capacity` rows. The parameter vectors are
  // wrapped, not copied: `params` must outlive the network and its vectors must keep their
  // storage (update their elements in place, never resize or reassign them). `training` adds
  // the backward primitives and gradient buffers. oneDNN primitives for a batch size are made
  // the first time a batch of that size runs and reused afterwards (a fit uses two sizes: the
  // full batch and the last, partial one). Throws dnnl::error or std::bad_alloc on failure
  // (callers convert them to a Status). REQUIRES: capacity >= 1.
  MlpNetwork(const MlpParameters& params, MlpActivation activation, MlpOutput output, bool training,
             std::size_t capacity);
  ~MlpNetwork();
  MlpNetwork(const MlpNetwork&) = delete;
  MlpNetwork& operator=(const MlpNetwork&) = delete;

  // The input buffer: capacity x sizes[0] floats; fill the first rows before forward().
  std::span<float> input() noexcept;

  // Runs rows [0, rows) of input() through the network and returns their outputs, rows x
  // sizes.back() row-major: softmax probabilities (each row sums to 1 up to rounding) or
  // identity outputs. The span stays valid until the next call. REQUIRES: 1 <= rows <= capacity.
  std::span<const float> forward(std::size_t rows);

  // After forward(rows) in a training network: the batch's loss and, in gradients(), its
  // gradient. Loss = mean over the rows of the data loss (softmax: -log p[label]; identity:
  // (output - value)^2 / 2) + (l2 / (2 rows)) * sum of squared weights; computed in double from
  // the float32 outputs. `labels` (softmax: class indices) or `values` (identity) hold the
  // batch's targets, `rows` of them; the other is empty. Overwrites the outputs of forward().
  double backward(std::size_t rows, std::span<const std::int32_t> labels,
                  std::span<const float> values, double l2);
  const MlpGradients& gradients() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The loss of `params` on the rows of `x` (rows x params.sizes[0], row-major) and its gradient,
// as one training batch of an MlpNetwork: what the finite-difference test checks. Runs on the
// calling thread's OpenMP thread count. Fails with kInternal when oneDNN fails.
struct MlpLossAndGradients {
  double loss = 0.0;
  MlpGradients gradients{};
};
Result<MlpLossAndGradients> mlp_loss_and_gradients(const MlpParameters& params,
                                                   MlpActivation activation, MlpOutput output,
                                                   std::span<const float> x,
                                                   std::span<const std::int32_t> labels,
                                                   std::span<const float> values, double l2);

}  // namespace trainflow::ml::detail
