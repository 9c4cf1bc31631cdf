using System.Security.Cryptography;

namespace ImageTools.Core.Ext.Editor;

/// <summary>
/// The running user's redo-log key: 32 random bytes in <c>$XDG_STATE_HOME/imagetools/redo-log.key</c> (else
/// <c>~/.local/state/imagetools/redo-log.key</c>), in a directory of mode 0700, the file of mode 0600, made the
/// first time an edit is committed. Redo logs are sealed with an HMAC under it (<see cref="RedoLog"/>): nobody
/// who cannot read this file can make a log that this user's next run would replay, whatever they can read
/// or write beside the image. <c>IMAGETOOLS_STATE_DIR</c> replaces the directory (tests use it).
/// </summary>
public static class RedoLogKey
{
    private const int KeySize = 32;
    private const string FileName = "redo-log.key";

    /// <summary>Where the key is (or would be); null when the user has no home directory.</summary>
    public static string? Location
    {
        get
        {
            var explicitDir = Environment.GetEnvironmentVariable("IMAGETOOLS_STATE_DIR");
            if (!string.IsNullOrEmpty(explicitDir))
            {
                return Path.Combine(explicitDir, FileName);
            }
            var state = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
            if (string.IsNullOrEmpty(state) || !Path.IsPathRooted(state))
            {
                var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
                if (string.IsNullOrEmpty(home))
                {
                    return null;
                }
                state = Path.Combine(home, ".local", "state");
            }
            return Path.Combine(state, "imagetools", FileName);
        }
    }

    /// <summary>The key; made when absent and <paramref name="create"/> (else null). Throws when it cannot be kept.</summary>
    public static byte[]? Get(bool create)
    {
        var location = Location;
        if (location == null)
        {
            return create
                ? throw new ImageToolsException(ErrorKind.DestinationUnwritable,
                    "no home directory to keep the redo-log key in (set HOME, XDG_STATE_HOME or IMAGETOOLS_STATE_DIR)")
                : null;
        }
        try
        {
            if (File.Exists(location))
            {
                return ReadKey(location);
            }
            if (!create)
            {
                return null;
            }
            var directory = Path.GetDirectoryName(location)!;
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            var key = RandomNumberGenerator.GetBytes(KeySize);
            var temporary = $"{location}.{Environment.ProcessId}.tmp";
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            using (var file = new FileStream(temporary, options))
            {
                file.Write(key);
                file.Flush(flushToDisk: true);
            }
            try
            {
                // Two first runs at once: the first to rename wins and both use its key.
                File.Move(temporary, location, overwrite: false);
            }
            catch (IOException) when (File.Exists(location))
            {
                File.Delete(temporary);
                return ReadKey(location);
            }
            return key;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"{location}: cannot keep the redo-log key there: {e.Message}", e) { Path = location };
        }
    }

    private static byte[] ReadKey(string location)
    {
        var key = File.ReadAllBytes(location);
        if (key.Length != KeySize)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{location}: the redo-log key is {key.Length} bytes, not {KeySize}; delete it (a new one is made)") { Path = location };
        }
        return key;
    }
}
