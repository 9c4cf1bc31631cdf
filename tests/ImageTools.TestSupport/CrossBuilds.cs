using Xunit;

namespace ImageTools.TestSupport;

/// <summary>
/// Our tools built for another OS or CPU, and the emulators that run them here: the win-x64 build under Wine,
/// the linux-arm64 Native AOT build under qemu-aarch64 (user-mode), and the .NET tool packages.
/// <para>
/// scripts/test.sh publishes them before the test run and names the folders in <c>IMAGETOOLS_WIN_X64_DIR</c>,
/// <c>IMAGETOOLS_LINUX_ARM64_DIR</c> and <c>IMAGETOOLS_PACKAGES_DIR</c>; without those (a filtered run from an
/// IDE) the first test that needs one publishes it with scripts/publish.sh into artifacts/test-builds/, once per
/// test process. A failing publish fails the test: only a missing emulator is a reason to skip.
/// </para>
/// </summary>
public static class CrossBuilds
{
    private static readonly Dictionary<string, Lazy<string>> Builds = new()
    {
        ["win-x64"] = new(() => Publish("IMAGETOOLS_WIN_X64_DIR", ["rid", "win-x64"], "win-x64", "sparsecopy.exe")),
        ["linux-arm64"] = new(() => Publish("IMAGETOOLS_LINUX_ARM64_DIR", ["rid", "linux-arm64"], "linux-arm64", "sparsecopy")),
        ["packages"] = new(() => Publish("IMAGETOOLS_PACKAGES_DIR", ["pack"], "packages", "ImageTools.Core.*.nupkg")),
    };

    /// <summary>The folder holding <paramref name="what"/> (win-x64, linux-arm64, packages), publishing it if needed.</summary>
    public static string Folder(string what) => Builds[what].Value;

    private static string Publish(string variable, string[] mode, string name, string expected)
    {
        var given = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrEmpty(given))
        {
            if (Directory.GetFiles(given, expected).Length == 0)
            {
                throw new InvalidOperationException($"${variable} is {given}, which holds no {expected}");
            }
            return given;
        }
        var folder = Path.Combine(TestPaths.RepoRoot, "artifacts", "test-builds", name);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
        var r = ProcessRunner.Run("bash", [Path.Combine(TestPaths.RepoRoot, "scripts", "publish.sh"), .. mode, folder],
            timeout: TimeSpan.FromMinutes(20), workingDirectory: TestPaths.RepoRoot);
        if (r.ExitCode != 0 || Directory.GetFiles(folder, expected).Length == 0)
        {
            throw new InvalidOperationException($"scripts/publish.sh {string.Join(' ', mode)} {folder} failed:\n{r}");
        }
        return folder;
    }

    /// <summary>
    /// Runs a win-x64 tool under Wine, in a Wine prefix of its own under the fixture cache (made once, without
    /// the Mono and Gecko install prompts). Skips when Wine is not installed.
    /// </summary>
    public static ProcessResult Wine(string tool, IEnumerable<string> args, string? workingDirectory = null,
        IDictionary<string, string?>? environment = null)
    {
        var wine = ExternalTools.Find("wine") ?? ExternalTools.Find("wine64");
        if (wine == null)
        {
            Assert.Skip("Wine is not installed (scripts/install-test-deps.sh installs wine and wine64); the win-x64 build cannot be run here");
        }
        var env = WineEnvironment(wine!);
        foreach (var (k, v) in environment ?? new Dictionary<string, string?>())
        {
            env[k] = v;
        }
        var exe = Path.Combine(Folder("win-x64"), tool + ".exe");
        return ProcessRunner.Run(wine!, [exe, .. args], environment: env, workingDirectory: workingDirectory, timeout: TimeSpan.FromMinutes(5));
    }

    private static readonly Lazy<string> WinePrefix = new(() =>
    {
        var prefix = Path.Combine(TestPaths.FixtureCache, "wine", "prefix");
        if (!File.Exists(Path.Combine(prefix, "system.reg")))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(prefix)!);
            var wineboot = ExternalTools.Find("wineboot") ?? throw new InvalidOperationException("wine is installed but wineboot is not");
            // mscoree and mshtml disabled while the prefix is made: Wine would otherwise offer to install Mono and Gecko.
            var r = ProcessRunner.Run(wineboot, ["--init"], timeout: TimeSpan.FromMinutes(5), environment: new Dictionary<string, string?>
            {
                ["WINEPREFIX"] = prefix, ["WINEARCH"] = "win64", ["WINEDEBUG"] = "-all", ["WINEDLLOVERRIDES"] = "mscoree,mshtml=", ["DISPLAY"] = null,
            });
            if (r.ExitCode != 0 || !File.Exists(Path.Combine(prefix, "system.reg")))
            {
                throw new InvalidOperationException($"wineboot --init did not make the Wine prefix {prefix}:\n{r}");
            }
        }
        return prefix;
    });

    private static Dictionary<string, string?> WineEnvironment(string wine) => new()
    {
        ["WINEPREFIX"] = WinePrefix.Value,
        ["WINEARCH"] = "win64",
        ["WINEDEBUG"] = "-all",
        // mscoree must stay enabled: Wine loads .NET's IL-only assemblies through it. mshtml (Gecko) is never needed.
        ["WINEDLLOVERRIDES"] = "mshtml=",
        ["DISPLAY"] = null,
    };

    /// <summary>A Linux path as the Windows build sees it: Wine's drive Z: is the Unix root ("/tmp/x" is Z:\tmp\x).</summary>
    public static string WindowsPath(string path) => "Z:" + Path.GetFullPath(path).Replace('/', '\\');

    /// <summary>Runs a linux-arm64 tool under qemu-aarch64 (user-mode). Skips when QEMU's user-mode emulator is not installed.</summary>
    public static ProcessResult Arm64(string tool, IEnumerable<string> args, IDictionary<string, string?>? environment = null)
    {
        var qemu = ExternalTools.Find("qemu-aarch64") ?? ExternalTools.Find("qemu-aarch64-static");
        if (qemu == null)
        {
            Assert.Skip("qemu-aarch64 is not installed (scripts/install-test-deps.sh installs qemu-user); the linux-arm64 build cannot be run here");
        }
        var sysroot = "/usr/aarch64-linux-gnu"; // libc6-arm64-cross: the arm64 loader and libc the binary links against
        if (!File.Exists(Path.Combine(sysroot, "lib", "ld-linux-aarch64.so.1")))
        {
            Assert.Skip($"no arm64 C library in {sysroot} (scripts/install-test-deps.sh installs libc6-dev-arm64-cross)");
        }
        var exe = Path.Combine(Folder("linux-arm64"), tool);
        return ProcessRunner.Run(qemu!, ["-L", sysroot, exe, .. args], environment: environment, timeout: TimeSpan.FromMinutes(5));
    }
}
