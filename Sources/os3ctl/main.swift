import OS3Commands

OS3Command.runMain()
