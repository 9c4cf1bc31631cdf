using ImageTools.CommandLineSupport;
using ImageTools.Core;

namespace ImageTools.SparseCopy
{
    /// <summary>sparsecopy: parse the command line, run the mode, map failures to exit codes. Nothing else lives here.</summary>
    public static class Program
    {
        public static int Main(string[] args)
        {
            using var interruption = new Interruption("sparsecopy");
            LastResort.Install("sparsecopy", interruption);
            SparseCopyArguments parsed;
            try
            {
                parsed = CommandLine.Parse(args);
            }
            catch (ImageToolsException e)
            {
                Console.Error.WriteLine($"sparsecopy: {e.Message}");
                Console.Error.WriteLine("Try 'sparsecopy -h' for the options.");
                return ExitCodes.For(e.Kind);
            }
            catch (Exception e)
            {
                return LastResort.Report("sparsecopy", e);
            }

            var exitCode = Run(parsed, interruption);
            if (!interruption.ClaimExit())
            {
                Thread.Sleep(Timeout.Infinite); // the interrupt watchdog is ending the process with its own code
            }
            return exitCode;
        }

        private static int Run(SparseCopyArguments parsed, Interruption interruption)
        {
            try
            {
                return parsed.Mode switch
                {
                    Mode.Help => Help(),
                    Mode.Version => PrintVersion(),
                    Mode.Copy => CopyMode.Run(parsed, interruption),
                    Mode.List => ListMode.Run(parsed),
                    Mode.CreateBmap => CreateBmapMode.Run(parsed, interruption),
                    _ => throw new InvalidOperationException($"mode {parsed.Mode} has no runner"),
                };
            }
            catch (ImageToolsException e)
            {
                Console.Error.WriteLine($"sparsecopy: {e.Message}");
                return e.Kind == ErrorKind.Cancelled ? interruption.ExitCode : ExitCodes.For(e.Kind);
            }
            catch (OutOfMemoryException)
            {
                Console.Error.WriteLine("sparsecopy: out of memory");
                return ExitCodes.OutOfMemory;
            }
            catch (InvalidDataException e)
            {
                // A decompressor's verdict reaching a reader that does not wrap it (the partition table of a compressed SOURCE).
                Console.Error.WriteLine($"sparsecopy: {parsed.Source}: corrupt compressed data: {e.Message}");
                return ExitCodes.CorruptInput;
            }
            catch (OperationCanceledException) when (interruption.Token.IsCancellationRequested)
            {
                Console.Error.WriteLine("sparsecopy: interrupted");
                return interruption.ExitCode;
            }
            catch (Exception e)
            {
                // Every expected failure is an ImageToolsException above; anything else is a bug, reported in one line.
                interruption.RunCleanup();
                return LastResort.Report("sparsecopy", e);
            }
        }

        /// <summary>The informational version, which is the package version (no "+commit" suffix: Directory.Build.props).</summary>
        private static int PrintVersion()
        {
            var assembly = typeof(Program).Assembly;
            var version = System.Reflection.CustomAttributeExtensions.GetCustomAttribute<System.Reflection.AssemblyInformationalVersionAttribute>(assembly)?.InformationalVersion
                ?? assembly.GetName().Version?.ToString() ?? "unknown";
            Console.Out.WriteLine(version);
            return ExitCodes.Success;
        }

        private static int Help()
        {
            Console.Error.WriteLine(CommandLine.Usage);
            return ExitCodes.Success;
        }
    }
}
