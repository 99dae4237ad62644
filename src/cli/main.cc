#include "cli/app.h"

int main(int argc, char** argv) { return pagesim::cli::run(argc, argv); }
