//! Native Rust control tasks (pointmaze, accelmaze, kinpuzzle, …) and their dataset generators (filled by the native-tasks issues; nothing here yet).
