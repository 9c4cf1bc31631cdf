namespace ImageTools.TestSupport;

/// <summary>A fresh folder under the system temp directory, deleted (recursively) on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string? prefix = null)
    {
        Path = Directory.CreateTempSubdirectory(prefix ?? "imagetools-test-").FullName;
    }

    public string Path { get; }

    /// <summary>A path inside the folder (nothing is created).</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A test that left a process running (e.g. a killed QEMU) may still hold a file open;
            // the OS cleans temp folders eventually and the test result is what matters.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
