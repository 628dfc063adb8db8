import OS3Commands

// `buildCommit`: generated before every build (Plugins/BuildCommit).
OS3Command.runMain(commit: buildCommit)
