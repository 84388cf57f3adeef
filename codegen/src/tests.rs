//! Generator tests: key lines of the output.
