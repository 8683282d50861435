// report_fixture PATH: writes the report of test::sample_report_run() to PATH, for the
// headless-Chromium test (check_report.py), which checks what a browser shows of it.
#include <fstream>
#include <iostream>

#include "observe/report_sample.hpp"
#include "trainflow/observe/report.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: report_fixture PATH\n";
    return 2;
  }
  std::ofstream out(argv[1], std::ios::binary);
  out << trainflow::observe::html_report(trainflow::test::sample_report_run(),
                                         trainflow::test::sample_report_options());
  out.close();
  if (!out) {
    std::cerr << "report_fixture: cannot write " << argv[1] << "\n";
    return 1;
  }
  return 0;
}
