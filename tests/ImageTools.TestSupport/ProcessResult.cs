using System.Diagnostics;
using System.Text;

namespace ImageTools.TestSupport;

/// <summary>What a finished process printed and returned.</summary>
public sealed record ProcessResult(int ExitCode, string StdOut, string StdErr, byte[] StdOutBytes)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{StdOut}\n--- stderr ---\n{StdErr}";
}

/// <summary>Runs external programs (the reference tools, and our own CLIs) with a time bound.</summary>
public static class ProcessRunner
{
    public static ProcessResult Run(string fileName, IEnumerable<string> arguments, Stream? stdin = null,
        TimeSpan? timeout = null, IDictionary<string, string?>? environment = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }
        if (workingDirectory != null)
        {
            psi.WorkingDirectory = workingDirectory;
        }
        if (environment != null)
        {
            foreach (var (k, v) in environment)
            {
                if (v == null)
                {
                    psi.Environment.Remove(k);
                }
                else
                {
                    psi.Environment[k] = v;
                }
            }
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {fileName}");
        var stdoutBuffer = new MemoryStream();
        var stdoutTask = p.StandardOutput.BaseStream.CopyToAsync(stdoutBuffer);
        var stderrTask = p.StandardError.ReadToEndAsync();
        var stdinTask = Task.Run(() =>
        {
            try
            {
                if (stdin != null)
                {
                    stdin.CopyTo(p.StandardInput.BaseStream);
                }
                p.StandardInput.Close();
            }
            catch (IOException)
            {
                // The child may exit without reading all of its input; that is its business.
            }
        });

        var limit = timeout ?? TimeSpan.FromMinutes(5);
        if (!p.WaitForExit(limit))
        {
            try
            {
                p.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish within {limit}");
        }
        p.WaitForExit();
        Task.WaitAll(stdoutTask, stderrTask, stdinTask);
        var bytes = stdoutBuffer.ToArray();
        return new ProcessResult(p.ExitCode, Encoding.UTF8.GetString(bytes), stderrTask.Result, bytes);
    }

    public static ProcessResult Run(string fileName, params string[] arguments) => Run(fileName, (IEnumerable<string>)arguments);

    /// <summary>Runs a shell command line with bash -c (for pipelines in tests).</summary>
    public static ProcessResult Shell(string commandLine, TimeSpan? timeout = null) =>
        Run("/bin/bash", new[] { "-c", commandLine }, timeout: timeout);
}
