// The flagship churn pipeline in C++ (examples/cpp/churn_pipeline.hpp), run on every core, with
// its report and the winners' test metrics. `trainflow run examples/pipelines/churn.yaml` runs
// the same pipeline from its workflow file, with the same results.
#include "churn_pipeline.hpp"

#include <cstdio>
#include <iostream>

namespace {

void print_metrics(const char* title, const trainflow::ml::Metrics* metrics, std::int64_t index) {
  if (metrics == nullptr) return;
  std::printf("%s (trial %lld):", title, static_cast<long long>(index));
  for (const auto& [name, value] : *metrics) std::printf(" %s=%.4f", name.c_str(), value);
  std::printf("\n");
}

}  // namespace

int main() {
  trainflow::Pipeline pipeline{"churn"};
  const churn::Flagship flagship = churn::add_flagship(pipeline);

  trainflow::Executor executor;
  const trainflow::RunReport report = executor.run(pipeline, {.seed = 42});
  std::cout << report.to_string();
  if (!report.ok()) return 1;

  print_metrics("best logistic regression", report.value(flagship.gate),
                *report.value(flagship.best_logistic_index));
  print_metrics("best MLP", report.value(flagship.best_mlp_metrics),
                *report.value(flagship.best_mlp_index));
  return 0;
}
