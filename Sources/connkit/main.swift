import ConnkitCLI
#if canImport(Glibc)
import Glibc
#endif

exit(Connkit.main(arguments: Array(CommandLine.arguments.dropFirst())))
