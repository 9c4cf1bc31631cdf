using ImageTools.Core.Ext.Reader;

namespace ImageTools.Core.Hygiene.FirstBoot;

/// <summary>
/// Which programs an image has, found as its own shell would find them: an executable regular file (links
/// followed inside the image) in one of the directories on the first-boot script's PATH. Nothing is run.
/// </summary>
public static class ImagePrograms
{
    /// <summary>The first-boot script's PATH, in its order.</summary>
    public static readonly string[] SearchPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    /// <summary>Where <paramref name="name"/> is, or null.</summary>
    public static string? Find(ExtFileSystem fs, string name)
    {
        foreach (var directory in SearchPath)
        {
            var path = directory + "/" + name;
            ExtInode? inode;
            try
            {
                inode = fs.TryResolve(path, followLast: true);
            }
            catch (ImageToolsException e) when (e.Kind == ErrorKind.CorruptImage)
            {
                continue; // a link loop is not a program
            }
            if (inode is { IsRegularFile: true } && (inode.Mode & 0x49) != 0)
            {
                return path;
            }
        }
        return null;
    }

    /// <summary>Whether a busybox binary in the image has the <paramref name="applet"/> applet (its applet names are NUL-separated strings in it).</summary>
    public static bool BusyboxHas(ExtFileSystem fs, string busybox, string applet)
    {
        var inode = fs.TryResolve(busybox, followLast: true);
        if (inode is not { IsRegularFile: true } || inode.Size > 16 << 20)
        {
            return false;
        }
        var needle = System.Text.Encoding.ASCII.GetBytes("\0" + applet + "\0");
        using var content = fs.OpenContent(inode);
        var data = new byte[inode.Size];
        content.ReadExactly(data);
        return data.AsSpan().IndexOf(needle) >= 0;
    }

    /// <summary>The HTTP client the first-boot script would use ("curl", "wget", "busybox wget"), or null.</summary>
    public static string? HttpClient(ExtFileSystem fs)
    {
        if (Find(fs, "curl") is { } curl)
        {
            return curl;
        }
        if (Find(fs, "wget") is { } wget)
        {
            return wget;
        }
        return Find(fs, "busybox") is { } busybox && BusyboxHas(fs, busybox, "wget") ? busybox + " wget" : null;
    }

    /// <summary>
    /// Refuses an image the first-boot script cannot work in: without an HTTP client it could never fetch the
    /// password, and without chpasswd, mkpasswd or openssl never set it; the account would stay locked and
    /// nobody could log in. Found at build or scrub time rather than at the first boot, where only the console
    /// would say so.
    /// </summary>
    public static void CheckFirstBootCanRun(ExtFileSystem fs, FirstBootOptions options)
    {
        var searched = string.Join(", ", SearchPath);
        if (HttpClient(fs) == null)
        {
            throw new ImageToolsException(ErrorKind.MissingResource,
                $"{fs.Name}: --first-boot needs an HTTP client in the image to fetch the password from {options.MetadataUrl}, and it has none "
                + $"(no curl, wget or busybox with wget in {searched}): {options.User} would stay locked and nobody could log in. "
                + "Install curl or wget in the root filesystem (Debian: apt-get install curl; mmdebstrap: --include=curl) and try again");
        }
        if (Find(fs, "chpasswd") == null && Find(fs, "mkpasswd") == null && Find(fs, "openssl") == null
            && !(Find(fs, "busybox") is { } busybox && (BusyboxHas(fs, busybox, "chpasswd") || BusyboxHas(fs, busybox, "mkpasswd"))))
        {
            throw new ImageToolsException(ErrorKind.MissingResource,
                $"{fs.Name}: --first-boot needs chpasswd, mkpasswd or openssl in the image to set the password of {options.User}, and it has none (in {searched}); "
                + "install the passwd package (or whois for mkpasswd) in the root filesystem and try again");
        }
    }
}
