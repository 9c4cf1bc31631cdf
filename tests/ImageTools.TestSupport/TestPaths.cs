using Xunit;

namespace ImageTools.TestSupport;

/// <summary>Where the repository, the shared corpus and the fixture cache are.</summary>
public static class TestPaths
{
    /// <summary>The repository root: the folder holding ImageTools.sln.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>
    /// <c>../shared/corpus</c> beside the repository (read-only inputs from e2fsprogs' own tests), or
    /// <c>$IMAGETOOLS_CORPUS</c>. Null on a user's clone, where it is absent.
    /// </summary>
    public static string? SharedCorpus
    {
        get
        {
            var fromEnv = Environment.GetEnvironmentVariable("IMAGETOOLS_CORPUS");
            if (!string.IsNullOrEmpty(fromEnv) && Directory.Exists(fromEnv))
            {
                return fromEnv;
            }
            var beside = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "corpus"));
            return Directory.Exists(beside) ? beside : null;
        }
    }

    /// <summary>The shared corpus folder; skips the calling test, saying why, when it is absent.</summary>
    public static string RequireSharedCorpus()
    {
        var corpus = SharedCorpus;
        if (corpus == null)
        {
            Assert.Skip("../shared/corpus is not beside this clone (it ships with the project's workspace, not with the repository)");
        }
        return corpus!;
    }

    /// <summary>
    /// The folder where scripts/fetch-fixtures.sh caches downloaded and built fixtures (kernel, busybox,
    /// initramfs): <c>$IMAGETOOLS_CACHE</c>, else <c>$XDG_CACHE_HOME/imagetools</c>, else <c>~/.cache/imagetools</c>.
    /// </summary>
    public static string FixtureCache
    {
        get
        {
            var fromEnv = Environment.GetEnvironmentVariable("IMAGETOOLS_CACHE");
            if (!string.IsNullOrEmpty(fromEnv))
            {
                return fromEnv;
            }
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var baseDir = !string.IsNullOrEmpty(xdg)
                ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(baseDir, "imagetools");
        }
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "ImageTools.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("cannot find ImageTools.sln above " + AppContext.BaseDirectory);
    }
}
