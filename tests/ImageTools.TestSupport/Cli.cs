namespace ImageTools.TestSupport;

/// <summary>
/// Runs our own programs as a user runs them. By default the JIT builds copied next to the test
/// assembly (the test projects reference the CLI projects); set <c>IMAGETOOLS_BIN_DIR</c> to a folder
/// holding published (Native AOT) <c>sparsecopy</c> and <c>fsmaker</c> to test those instead.
/// </summary>
public static class Cli
{
    public static string PathOf(string tool)
    {
        var binDir = Environment.GetEnvironmentVariable("IMAGETOOLS_BIN_DIR");
        if (!string.IsNullOrEmpty(binDir))
        {
            return Path.Combine(binDir, tool);
        }
        var beside = Path.Combine(AppContext.BaseDirectory, tool);
        if (!File.Exists(beside))
        {
            throw new FileNotFoundException($"{tool} is not beside the test assembly; does the test project reference its project?", beside);
        }
        return beside;
    }

    public static ProcessResult SparseCopy(params string[] args) => ProcessRunner.Run(PathOf("sparsecopy"), args);

    public static ProcessResult FsMaker(params string[] args) => ProcessRunner.Run(PathOf("fsmaker"), args);

    public static ProcessResult Run(string tool, IEnumerable<string> args, Stream? stdin = null, TimeSpan? timeout = null,
        IDictionary<string, string?>? environment = null) =>
        ProcessRunner.Run(PathOf(tool), args, stdin, timeout, environment);
}
