namespace ImageTools.Core.Platform;

/// <summary>The platform implementation for the running OS.</summary>
public static class PlatformIo
{
    /// <summary>
    /// Linux, Windows and macOS: their own calls (data ranges, hole punching, devices). Elsewhere (FreeBSD...):
    /// the portable fallback, correct without the shortcuts.
    /// </summary>
    public static IPlatformIo Current { get; } =
        OperatingSystem.IsLinux() ? new LinuxPlatformIo()
        : OperatingSystem.IsWindows() ? new WindowsPlatformIo()
        : OperatingSystem.IsMacOS() ? new MacPlatformIo()
        : new PortablePlatformIo();
}

/// <summary>Lookups that turn an OS refusal into an <see cref="ImageToolsException"/> naming the path and its role.</summary>
public static class PlatformIoExtensions
{
    /// <summary>
    /// <see cref="IPlatformIo.GetIdentity(string)"/>, with a failure (a folder on the way this user cannot search,
    /// a link the kernel refuses to follow) reported as <paramref name="kind"/> for <paramref name="role"/>
    /// ("SOURCE", "DEST", ...) instead of escaping as an <see cref="IOException"/>.
    /// </summary>
    public static FileIdentity Identify(this IPlatformIo platform, string path, ErrorKind kind, string role)
    {
        try
        {
            return platform.GetIdentity(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(kind,
                $"cannot reach {role} {path}: {e.Message}; every folder on its path must be searchable (x permission) by this user") { Path = path };
        }
    }

    /// <summary>
    /// Refuses (<see cref="ErrorKind.SameFile"/>) to write <paramref name="output"/> when it is
    /// <paramref name="input"/>: the same path, a symbolic or hard link to it, or the same device. A program
    /// that writes its output under a temporary name and renames it would otherwise replace its own input.
    /// </summary>
    public static void RefuseOutputIsInput(this IPlatformIo platform, string input, string inputRole, string output, string outputRole)
    {
        var target = platform.Identify(output, ErrorKind.DestinationUnwritable, outputRole);
        if (!target.Exists)
        {
            return;
        }
        if (target.IsSameObjectAs(platform.Identify(input, ErrorKind.SourceUnreadable, inputRole)))
        {
            throw new ImageToolsException(ErrorKind.SameFile,
                $"{outputRole} {output} is {inputRole} {input} (the same file{(output == input ? "" : ", through a link")}); writing it would destroy the input: give another {outputRole}") { Path = output };
        }
    }

    /// <summary>As <see cref="RefuseOutputIsInput"/>, for output to standard output redirected to a file (<c>&gt;&gt; input</c>).</summary>
    public static void RefuseStdoutIsInput(this IPlatformIo platform, string input, string inputRole)
    {
        FileIdentity stdout;
        try
        {
            stdout = platform.GetIdentity(new Microsoft.Win32.SafeHandles.SafeFileHandle(1, ownsHandle: false));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return; // no standard output to speak of; writing will fail on its own
        }
        if (stdout.Kind == FileKind.RegularFile && stdout.IsSameObjectAs(platform.Identify(input, ErrorKind.SourceUnreadable, inputRole)))
        {
            throw new ImageToolsException(ErrorKind.SameFile,
                $"standard output is {inputRole} {input}; writing to it would destroy the input: redirect the output to another file") { Path = input };
        }
    }
}
