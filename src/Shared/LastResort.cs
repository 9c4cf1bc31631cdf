namespace ImageTools.CommandLineSupport;

/// <summary>
/// The guarantee that no exception reaches the user as a runtime crash (a stack trace and exit 134): every
/// failure the core expects is an ImageToolsException with its documented exit code; anything else that
/// escapes a command (on the main thread or a worker thread) is reported here in one line, as an internal
/// error with exit code 70 (EX_SOFTWARE), after the registered cleanup removed any temporary output.
/// Compiled into each program, like <see cref="Interruption"/>.
/// </summary>
public static class LastResort
{
    /// <summary>Exit code of an internal error (sysexits.h EX_SOFTWARE), documented in both programs' manuals.</summary>
    public const int InternalErrorExitCode = 70;

    /// <summary>Set to 1 to have the stack trace printed too.</summary>
    public const string TraceVariable = "IMAGETOOLS_TRACE";

    private static int _installed;

    /// <summary>
    /// Catches exceptions thrown on any thread that nothing handled (a copy's reader thread, a timer): they are
    /// reported as <see cref="Report"/> does, the interruption's cleanup runs, and the process exits 70.
    /// </summary>
    public static void Install(string program, Interruption interruption)
    {
        if (Interlocked.Exchange(ref _installed, 1) != 0)
        {
            return;
        }
        AppDomain.CurrentDomain.UnhandledException += (_, args) =>
        {
            var exitCode = args.ExceptionObject is Exception e ? Report(program, e) : InternalErrorExitCode;
            if (interruption.ClaimExit())
            {
                interruption.RunCleanup();
                Environment.Exit(exitCode);
            }
        };
    }

    /// <summary>Prints "PROGRAM: internal error: ..." (and the trace if asked for) and returns the exit code to use.</summary>
    public static int Report(string program, Exception e)
    {
        if (e is OutOfMemoryException)
        {
            Console.Error.WriteLine($"{program}: out of memory");
            return 5;
        }
        Console.Error.WriteLine($"{program}: internal error: {e.GetType().Name}: {e.Message}");
        Console.Error.WriteLine($"{program}: this is a bug in {program}; please report it with the command line that caused it (set {TraceVariable}=1 for the stack trace); any temporary output was removed");
        if (Environment.GetEnvironmentVariable(TraceVariable) == "1")
        {
            Console.Error.WriteLine(e.ToString());
        }
        return InternalErrorExitCode;
    }
}
