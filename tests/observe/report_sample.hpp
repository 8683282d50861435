// A hand-made run for the report's tests: the unit tests check the HTML against values computed
// by hand from it, and report_fixture writes its page for the headless-Chromium test.
#pragma once

#include "trainflow/observe/report.hpp"
#include "trainflow/store/run_store.hpp"

namespace trainflow::test {

// A small workflow file that loads with the default registry: data -> split -> features.
inline constexpr const char* kTinyWorkflow =
    "name: tiny\n"
    "stages:\n"
    "  data:\n"
    "    uses: synthetic\n"
    "    with: {task: regression, rows: 100, numeric_features: 2, categorical_features: 0}\n"
    "  split:\n"
    "    uses: split\n"
    "    needs: [data]\n"
    "    with: {test_fraction: 0.25}\n"
    "  features:\n"
    "    uses: column_transformer\n"
    "    needs: {train: split.train, test: split.test}\n";

// Run "20261124T073000Z-3fa2c1" of "churn" on host "box": 1000 ms, failed at "eval".
//   load  synthetic       worker 0  [0, 100]    succeeded, cache stored
//   prep  split           worker 1  [100, 300]  succeeded, cache restored
//   train mlp_classifier  worker 0  [300, 700]  succeeded after 3 attempts, cpu 1600 ms, queued
//                                               20 ms; 4 threads, peak RSS growth 3 MiB, cost
//                                               0.0125 (the run's too); accuracy 0.875; loss 1,
//                                               0.5, 0.25 (steps 0-2, reported out of order)
//                                               and NaN (step 3);
//                                               val_auc 0.7, 0.8 (steps 0-1)
//   eval  evaluate        worker 0  [700, 900]  failed: boom
RunDetails sample_report_run();

// Its graph: load -> prep -> train -> eval, load -> eval, and a stage "pending" the run never
// recorded.
observe::ReportOptions sample_report_options();

}  // namespace trainflow::test
