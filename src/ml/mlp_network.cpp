#include "mlp_network.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <new>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "random.hpp"

namespace trainflow::ml::detail {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Type = memory::data_type;

memory::desc matrix_md(std::size_t rows, std::size_t cols) {
  return memory::desc({static_cast<memory::dim>(rows), static_cast<memory::dim>(cols)}, Type::f32,
                      Tag::ab);
}

memory::desc vector_md(std::size_t n) {
  return memory::desc({static_cast<memory::dim>(n)}, Type::f32, Tag::a);
}

dnnl::algorithm eltwise_algorithm(MlpActivation activation) {
  // The *_use_dst_for_bwd variants compute the derivative from the activation's output, so the
  // forward pass can run in place and keep no pre-activations.
  return activation == MlpActivation::kRelu ? dnnl::algorithm::eltwise_relu_use_dst_for_bwd
                                            : dnnl::algorithm::eltwise_tanh_use_dst_for_bwd;
}

}  // namespace

MlpParameters glorot_parameters(std::span<const std::size_t> sizes, Random& random) {
  MlpParameters params;
  params.sizes.assign(sizes.begin(), sizes.end());
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    const double bound = std::sqrt(6.0 / static_cast<double>(sizes[l] + sizes[l + 1]));
    const auto draw = [&] { return static_cast<float>(bound * (2.0 * random.uniform() - 1.0)); };
    std::vector<float> w(sizes[l + 1] * sizes[l]);
    for (float& v : w) v = draw();
    std::vector<float> b(sizes[l + 1]);
    for (float& v : b) v = draw();
    params.weights.push_back(std::move(w));
    params.biases.push_back(std::move(b));
  }
  return params;
}

// The primitives and memory objects of one batch size. Memory objects wrap the network's
// buffers (sized for the capacity), so shapes share storage.
struct Shape {
  struct Layer {
    dnnl::inner_product_forward forward;
    dnnl::eltwise_forward activate;  // hidden layers only
    dnnl::inner_product_backward_weights backward_weights;
    dnnl::inner_product_backward_data backward_data;  // layers after the first only
    dnnl::eltwise_backward deactivate;                // on this layer's input, l > 0 only
    memory src, dst, diff_src, diff_dst;
  };
  std::vector<Layer> layers;
};

struct MlpNetwork::State {
  const MlpParameters* params = nullptr;
  MlpActivation activation = MlpActivation::kRelu;
  MlpOutput output = MlpOutput::kSoftmax;
  bool training = false;
  std::size_t capacity = 0;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  // act[l]: capacity x sizes[l]: the input (l = 0), a hidden layer's activations, or the
  // outputs (l = last). delta[l] (training, l >= 1): d loss / d pre-activation of layer l's
  // units, capacity x sizes[l].
  std::vector<std::vector<float>> act;
  std::vector<std::vector<float>> delta;
  MlpGradients gradients;
  std::vector<memory> weights, biases, diff_weights, diff_biases;
  std::unordered_map<std::size_t, Shape> shapes;

  std::size_t num_layers() const { return params->weights.size(); }

  const Shape& shape(std::size_t rows) {
    const auto found = shapes.find(rows);
    if (found != shapes.end()) return found->second;
    return shapes.emplace(rows, make_shape(rows)).first->second;
  }

  Shape make_shape(std::size_t rows) {
    const std::vector<std::size_t>& sizes = params->sizes;
    const auto prop =
        training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
    Shape shape;
    for (std::size_t l = 0; l < num_layers(); ++l) {
      const memory::desc src_md = matrix_md(rows, sizes[l]);
      const memory::desc dst_md = matrix_md(rows, sizes[l + 1]);
      const memory::desc w_md = matrix_md(sizes[l + 1], sizes[l]);
      const memory::desc b_md = vector_md(sizes[l + 1]);
      Shape::Layer layer;
      const dnnl::inner_product_forward::primitive_desc fwd_pd(
          dnnl::inner_product_forward::desc(prop, src_md, w_md, b_md, dst_md), engine);
      layer.forward = dnnl::inner_product_forward(fwd_pd);
      layer.src = memory(src_md, engine, act[l].data());
      layer.dst = memory(dst_md, engine, act[l + 1].data());
      if (l + 1 < num_layers()) {
        layer.activate = dnnl::eltwise_forward(dnnl::eltwise_forward::primitive_desc(
            dnnl::eltwise_forward::desc(prop, eltwise_algorithm(activation), dst_md, 0.0F, 0.0F),
            engine));
      }
      if (training) {
        layer.diff_dst = memory(dst_md, engine, delta[l + 1].data());
        layer.backward_weights = dnnl::inner_product_backward_weights(
            dnnl::inner_product_backward_weights::primitive_desc(
                dnnl::inner_product_backward_weights::desc(src_md, w_md, b_md, dst_md), engine,
                fwd_pd));
      }
      if (training && l > 0) {
        // Layer l's input is layer l - 1's activated output: its gradient goes back through
        // the weights, then through that activation (in place, from the activation's output).
        layer.diff_src = memory(src_md, engine, delta[l].data());
        layer.backward_data =
            dnnl::inner_product_backward_data(dnnl::inner_product_backward_data::primitive_desc(
                dnnl::inner_product_backward_data::desc(src_md, w_md, dst_md), engine, fwd_pd));
        const dnnl::eltwise_forward::primitive_desc hint(
            dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training,
                                        eltwise_algorithm(activation), src_md, 0.0F, 0.0F),
            engine);
        layer.deactivate = dnnl::eltwise_backward(dnnl::eltwise_backward::primitive_desc(
            dnnl::eltwise_backward::desc(eltwise_algorithm(activation), src_md, src_md, 0.0F, 0.0F),
            engine, hint));
      }
      shape.layers.push_back(std::move(layer));
    }
    return shape;
  }
};

MlpNetwork::MlpNetwork(const MlpParameters& params, MlpActivation activation, MlpOutput output,
                       bool training, std::size_t capacity)
    : state_(std::make_unique<State>()) {
  assert(capacity >= 1 && params.sizes.size() >= 2);
  State& s = *state_;
  s.params = &params;
  s.activation = activation;
  s.output = output;
  s.training = training;
  s.capacity = capacity;
  const std::vector<std::size_t>& sizes = params.sizes;
  for (std::size_t width : sizes) s.act.emplace_back(capacity * width);
  if (training) {
    s.delta.emplace_back();
    for (std::size_t l = 1; l < sizes.size(); ++l) s.delta.emplace_back(capacity * sizes[l]);
  }
  for (std::size_t l = 0; l < s.num_layers(); ++l) {
    const memory::desc w_md = matrix_md(sizes[l + 1], sizes[l]);
    const memory::desc b_md = vector_md(sizes[l + 1]);
    // oneDNN takes non-const handles; forward primitives only read them.
    s.weights.emplace_back(w_md, s.engine, const_cast<float*>(params.weights[l].data()));
    s.biases.emplace_back(b_md, s.engine, const_cast<float*>(params.biases[l].data()));
    if (training) {
      s.gradients.weights.emplace_back(params.weights[l].size());
      s.gradients.biases.emplace_back(params.biases[l].size());
      s.diff_weights.emplace_back(w_md, s.engine, s.gradients.weights[l].data());
      s.diff_biases.emplace_back(b_md, s.engine, s.gradients.biases[l].data());
    }
  }
}

MlpNetwork::~MlpNetwork() = default;

std::span<float> MlpNetwork::input() noexcept {
  return state_->act[0];
}

const MlpGradients& MlpNetwork::gradients() const noexcept {
  return state_->gradients;
}

std::span<const float> MlpNetwork::forward(std::size_t rows) {
  State& s = *state_;
  assert(rows >= 1 && rows <= s.capacity);
  const Shape& shape = s.shape(rows);
  for (std::size_t l = 0; l < s.num_layers(); ++l) {
    const Shape::Layer& layer = shape.layers[l];
    layer.forward.execute(s.stream, {{DNNL_ARG_SRC, layer.src},
                                     {DNNL_ARG_WEIGHTS, s.weights[l]},
                                     {DNNL_ARG_BIAS, s.biases[l]},
                                     {DNNL_ARG_DST, layer.dst}});
    if (l + 1 < s.num_layers()) {
      layer.activate.execute(s.stream, {{DNNL_ARG_SRC, layer.dst}, {DNNL_ARG_DST, layer.dst}});
    }
  }
  s.stream.wait();
  const std::size_t k = s.params->sizes.back();
  float* out = s.act.back().data();
  if (s.output == MlpOutput::kSoftmax) {
    for (std::size_t r = 0; r < rows; ++r) {
      float* z = out + r * k;
      const float top = *std::max_element(z, z + k);
      float sum = 0.0F;
      for (std::size_t c = 0; c < k; ++c) {
        z[c] = std::exp(z[c] - top);
        sum += z[c];
      }
      for (std::size_t c = 0; c < k; ++c) z[c] /= sum;
    }
  }
  return {out, rows * k};
}

double MlpNetwork::backward(std::size_t rows, std::span<const std::int32_t> labels,
                            std::span<const float> values, double l2) {
  State& s = *state_;
  assert(s.training && rows >= 1 && rows <= s.capacity);
  const std::size_t k = s.params->sizes.back();
  const float* out = s.act.back().data();
  float* delta = s.delta.back().data();
  const float scale = 1.0F / static_cast<float>(rows);
  double loss = 0.0;
  if (s.output == MlpOutput::kSoftmax) {
    assert(labels.size() == rows);
    // The smallest positive normal float bounds log p like scikit-learn's clipping, so a
    // probability that underflowed to 0 gives a large finite loss rather than infinity.
    constexpr double kTiny = 1.1754943508222875e-38;
    for (std::size_t r = 0; r < rows; ++r) {
      const auto y = static_cast<std::size_t>(labels[r]);
      loss -= std::log(std::max(static_cast<double>(out[r * k + y]), kTiny));
      for (std::size_t c = 0; c < k; ++c) {
        delta[r * k + c] = (out[r * k + c] - (c == y ? 1.0F : 0.0F)) * scale;
      }
    }
  } else {
    assert(values.size() == rows && k == 1);
    for (std::size_t r = 0; r < rows; ++r) {
      const float diff = out[r] - values[r];
      loss += 0.5 * static_cast<double>(diff) * static_cast<double>(diff);
      delta[r] = diff * scale;
    }
  }
  loss /= static_cast<double>(rows);

  const Shape& shape = s.shape(rows);
  for (std::size_t l = s.num_layers(); l-- > 0;) {
    const Shape::Layer& layer = shape.layers[l];
    layer.backward_weights.execute(s.stream, {{DNNL_ARG_SRC, layer.src},
                                              {DNNL_ARG_DIFF_DST, layer.diff_dst},
                                              {DNNL_ARG_DIFF_WEIGHTS, s.diff_weights[l]},
                                              {DNNL_ARG_DIFF_BIAS, s.diff_biases[l]}});
    if (l > 0) {
      layer.backward_data.execute(s.stream, {{DNNL_ARG_DIFF_DST, layer.diff_dst},
                                             {DNNL_ARG_WEIGHTS, s.weights[l]},
                                             {DNNL_ARG_DIFF_SRC, layer.diff_src}});
      layer.deactivate.execute(s.stream, {{DNNL_ARG_DST, layer.src},
                                          {DNNL_ARG_DIFF_DST, layer.diff_src},
                                          {DNNL_ARG_DIFF_SRC, layer.diff_src}});
    }
  }
  s.stream.wait();

  double squares = 0.0;
  const auto decay = static_cast<float>(l2 / static_cast<double>(rows));
  for (std::size_t l = 0; l < s.num_layers(); ++l) {
    const std::vector<float>& w = s.params->weights[l];
    std::vector<float>& g = s.gradients.weights[l];
    for (std::size_t i = 0; i < w.size(); ++i) {
      squares += static_cast<double>(w[i]) * static_cast<double>(w[i]);
      g[i] += decay * w[i];
    }
  }
  return loss + 0.5 * l2 * squares / static_cast<double>(rows);
}

Result<MlpLossAndGradients> mlp_loss_and_gradients(const MlpParameters& params,
                                                   MlpActivation activation, MlpOutput output,
                                                   std::span<const float> x,
                                                   std::span<const std::int32_t> labels,
                                                   std::span<const float> values, double l2) {
  const std::size_t rows = x.size() / params.sizes.front();
  try {
    MlpNetwork network(params, activation, output, /*training=*/true, rows);
    std::copy(x.begin(), x.end(), network.input().begin());
    (void)network.forward(rows);
    MlpLossAndGradients out;
    out.loss = network.backward(rows, labels, values, l2);
    out.gradients = network.gradients();
    return out;
  } catch (const dnnl::error& e) {
    return internal_error(std::string("mlp_loss_and_gradients: oneDNN failed: ") + e.what());
  }
}

}  // namespace trainflow::ml::detail
