using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using ImageTools.Core.Customization.Passwords;
using ImageTools.Core.Ext.Editor;
using ImageTools.Core.Ext.Reader;

namespace ImageTools.Core.Customization;

/// <summary>
/// One customize operation, named and written as virt-customize's option of the same name (without the "--"),
/// so that scripts and <c>--commands-from-file</c> files carry over. <see cref="Parse"/> checks the argument and
/// reads whatever it needs from the host (a key file, a password file, a tree to copy) before the image is
/// opened; <see cref="Run"/> plans the change in the editor.
/// </summary>
public abstract record CustomizeOperation
{
    /// <summary>The operation's name: "hostname", "ssh-inject"...</summary>
    public abstract string Name { get; }

    internal abstract void Run(CustomizeContext context);

    /// <summary>Every operation name, in the order the manual lists them.</summary>
    public static readonly IReadOnlyList<string> Names =
        ["hostname", "ssh-inject", "copy-in", "write", "append-line", "mkdir", "delete", "chmod", "link", "root-password", "timezone"];

    /// <summary>Where a host-side key is looked for when ssh-inject names no key (virt-customize: the user's ~/.ssh/id_*.pub).</summary>
    public sealed record HostEnvironment(string? SshDirectory)
    {
        public static HostEnvironment Current => new(
            Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) is { Length: > 0 } home ? Path.Combine(home, ".ssh") : null);
    }

    /// <summary>Parses <c>NAME ARGUMENT</c> as virt-customize's <c>--NAME ARGUMENT</c>.</summary>
    public static CustomizeOperation Parse(string name, string argument, HostEnvironment? host = null)
    {
        host ??= HostEnvironment.Current;
        (string, string) Two(string what)
        {
            var colon = argument.IndexOf(':');
            if (colon <= 0)
            {
                throw Bad($"expected {what}");
            }
            return (argument[..colon], argument[(colon + 1)..]);
        }
        ImageToolsException Bad(string why) => new(ErrorKind.InvalidArgument, $"{name} '{argument}': {why}");

        switch (name)
        {
            case "hostname":
                return new SetHostname(argument);
            case "ssh-inject":
                return InjectSshKey.From(argument, host);
            case "copy-in":
            {
                var (local, remote) = Two("LOCALPATH:REMOTEDIR");
                return CopyIn.From(local, remote);
            }
            case "write":
            {
                var (file, content) = Two("FILE:CONTENT");
                return new WriteFile(file, content);
            }
            case "append-line":
            {
                var (file, line) = Two("FILE:LINE");
                if (line.Contains('\n'))
                {
                    throw Bad("a line cannot hold a line break");
                }
                return new AppendLine(file, line);
            }
            case "mkdir":
                return new MakeDirectory(argument);
            case "delete":
                return new Delete(argument);
            case "chmod":
            {
                var (permissions, file) = Two("PERMISSIONS:FILE");
                if (permissions.Length is 0 or > 5 || !permissions.All(c => c is >= '0' and <= '7'))
                {
                    throw Bad($"'{permissions}' is not octal permissions (e.g. 0755)");
                }
                var mode = Convert.ToInt32(permissions, 8);
                if (mode > 0xFFF)
                {
                    throw Bad($"'{permissions}' is more than the permission bits (07777)");
                }
                return new ChangeMode(mode, file);
            }
            case "link":
            {
                var parts = argument.Split(':');
                if (parts.Length < 2 || parts.Any(p => p.Length == 0))
                {
                    throw Bad("expected TARGET:LINK[:LINK...]");
                }
                return new MakeLink(parts[0], parts[1..]);
            }
            case "root-password":
                return SetRootPassword.From(argument);
            case "timezone":
                return new SetTimezone(argument);
            default:
                throw new ImageToolsException(ErrorKind.InvalidArgument,
                    $"unknown customize operation '{name}' (known: {string.Join(", ", Names)})");
        }
    }
}

/// <summary>hostname NAME: /etc/hostname, and the names of /etc/hosts' 127.0.1.1 line where it has one.</summary>
public sealed partial record SetHostname : CustomizeOperation
{
    public SetHostname(string hostname)
    {
        if (hostname.Length is 0 or > 253 || !HostnamePattern().IsMatch(hostname))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"hostname '{hostname}' is not a valid host name (letters, digits and '-', labels of 1 to 63 characters separated by dots)");
        }
        Hostname = hostname;
    }

    public string Hostname { get; }

    public override string Name => "hostname";

    [GeneratedRegex(@"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")]
    private static partial Regex HostnamePattern();

    internal override void Run(CustomizeContext context)
    {
        var old = context.ReadIfPresent("/etc/hostname") is { } bytes ? Encoding.UTF8.GetString(bytes).Trim() : null;
        var (path, created) = context.WriteFile("/etc/hostname", Encoding.UTF8.GetBytes(Hostname + "\n"), CustomizeContext.RootFile);
        context.Report(created ? "created" : "wrote", created ? "would create" : "would write", $"{path} ({(old == null ? "" : $"{old} -> ")}{Hostname})");

        var hosts = context.ReadIfPresent("/etc/hosts");
        if (hosts == null)
        {
            return;
        }
        var text = Encoding.UTF8.GetString(hosts);
        var shortName = Hostname.Split('.')[0];
        var names = Hostname.Contains('.') ? $"{Hostname} {shortName}" : Hostname;
        var lines = text.Split('\n');
        var changed = false;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var cr = line.EndsWith('\r') ? "\r" : "";
            var body = line.TrimEnd('\r');
            var hash = body.IndexOf('#');
            var comment = hash >= 0 ? body[hash..] : "";
            var fields = (hash >= 0 ? body[..hash] : body).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 1 && fields[0] == "127.0.1.1")
            {
                var replaced = $"127.0.1.1\t{names}{(comment.Length > 0 ? " " + comment : "")}{cr}";
                if (replaced != line)
                {
                    lines[i] = replaced;
                    changed = true;
                }
            }
        }
        if (changed)
        {
            var (hostsPath, _) = context.WriteFile("/etc/hosts", Encoding.UTF8.GetBytes(string.Join('\n', lines)), CustomizeContext.RootFile);
            context.Report("rewrote", "would rewrite", $"{hostsPath} (127.0.1.1 {names})");
        }
    }
}

/// <summary>ssh-inject USER[:file:KEYFILE|:string:KEY]: the key appended to the user's ~/.ssh/authorized_keys.</summary>
public sealed record InjectSshKey(string User, string Key, string Source) : CustomizeOperation
{
    public override string Name => "ssh-inject";

    internal static InjectSshKey From(string argument, HostEnvironment host)
    {
        var parts = argument.Split(':', 3);
        var user = parts[0];
        if (user.Length == 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"ssh-inject '{argument}': expected USER[:file:KEYFILE|:string:KEY]");
        }
        string key, source;
        if (parts.Length == 1)
        {
            // virt-customize: with no selector, the current user's key from ~/.ssh/id_*.pub.
            var dir = host.SshDirectory;
            var files = dir != null && Directory.Exists(dir)
                ? Directory.GetFiles(dir, "id_*.pub").OrderBy(f => f, StringComparer.Ordinal).ToList()
                : [];
            if (files.Count == 0)
            {
                throw new ImageToolsException(ErrorKind.NotFound, $"ssh-inject {user}: no key given and none found ({dir ?? "~/.ssh"}/id_*.pub); use {user}:file:KEYFILE or {user}:string:KEY");
            }
            (key, source) = (ReadKeyFile(files[0], argument), files[0]);
        }
        else if (parts.Length == 3 && parts[1] == "file")
        {
            (key, source) = (ReadKeyFile(parts[2], argument), parts[2]);
        }
        else if (parts.Length == 3 && parts[1] == "string")
        {
            (key, source) = (parts[2].Trim(), "the command line");
        }
        else
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"ssh-inject '{argument}': expected USER, USER:file:KEYFILE or USER:string:KEY");
        }
        if (key.Length == 0 || key.Contains('\n') || key.Contains('\r') || key.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length < 2)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"ssh-inject '{argument}': the key from {source} is not one public key line (TYPE BASE64 [COMMENT])");
        }
        return new InjectSshKey(user, key, source);
    }

    private static string ReadKeyFile(string file, string argument)
    {
        try
        {
            var lines = File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
            return lines.Count == 1 ? lines[0]
                : throw new ImageToolsException(ErrorKind.InvalidArgument, $"ssh-inject '{argument}': {file} holds {lines.Count} keys; give a file with one public key");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(e is FileNotFoundException or DirectoryNotFoundException ? ErrorKind.NotFound : ErrorKind.SourceUnreadable,
                $"ssh-inject '{argument}': cannot read the key file {file}: {e.Message}", e) { Path = file };
        }
    }

    internal override void Run(CustomizeContext context)
    {
        var account = context.User(User);
        if (!account.Home.StartsWith('/'))
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{context.FileSystem.Name}: user '{User}' has no absolute home directory in /etc/passwd ('{account.Home}')");
        }
        var home = context.Canonical(account.Home, followLast: true);
        if (context.Find(home) is not { IsDirectory: true })
        {
            throw new ImageToolsException(ErrorKind.NotFound, $"{context.FileSystem.Name}: the home directory of '{User}', {account.Home}, does not exist in the image");
        }
        var owner = new NewInodeAttributes(0x1C0, account.Uid, account.Gid);
        var sshDir = context.Canonical(home.TrimEnd('/') + "/.ssh", followLast: true);
        switch (context.Find(sshDir))
        {
            case null:
                context.Editor.CreateDirectory(sshDir, owner);
                context.Report("created", "would create", $"{sshDir} (directory, 0700, {account.Uid}:{account.Gid})");
                break;
            case { IsDirectory: false } other:
                throw new ImageToolsException(ErrorKind.WrongInputKind, $"{context.FileSystem.Name}: {sshDir} is a {ExtFileSystem.DescribeType(other.Type)}, not a directory");
        }
        var file = context.Canonical(sshDir + "/authorized_keys", followLast: true);
        var existing = context.Find(file);
        var line = Key + "\n";
        if (existing == null)
        {
            context.Editor.CreateFile(file, Encoding.UTF8.GetBytes(line), owner with { Permissions = 0x180 });
            context.Report("created", "would create", $"{file} (0600, {account.Uid}:{account.Gid}) with the key from {Source}");
            return;
        }
        if (!existing.IsRegularFile)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{context.FileSystem.Name}: {file} is a {ExtFileSystem.DescribeType(existing.Type)}, not a regular file");
        }
        var text = Encoding.UTF8.GetString(context.Read(existing, file));
        if (text.Split('\n').Any(l => l.Trim() == Key))
        {
            context.Note($"{file} already holds the key from {Source}");
            return;
        }
        var content = text + (text.Length > 0 && !text.EndsWith('\n') ? "\n" : "") + line;
        context.Editor.Rewrite(file, Encoding.UTF8.GetBytes(content));
        context.Report("appended", "would append", $"the key from {Source} to {file}");
    }
}

/// <summary>copy-in LOCALPATH:REMOTEDIR: a file or a whole tree, with its modes; owner from --owner or root.</summary>
public sealed record CopyIn(string LocalPath, string RemoteDirectory) : CustomizeOperation
{
    public override string Name => "copy-in";

    internal static CopyIn From(string local, string remote)
    {
        if (!File.Exists(local) && !Directory.Exists(local))
        {
            throw new ImageToolsException(ErrorKind.NotFound, $"copy-in: {local} does not exist") { Path = local };
        }
        return new CopyIn(local, remote);
    }

    internal override void Run(CustomizeContext context)
    {
        var directory = context.Canonical(RemoteDirectory, followLast: true);
        if (context.Find(directory) is not { IsDirectory: true })
        {
            throw new ImageToolsException(ErrorKind.NotFound, $"{context.FileSystem.Name}: copy-in: the directory {RemoteDirectory} does not exist in the image (make it first with mkdir)");
        }
        var (uid, gid) = context.Owner(context.Options.Owner);
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(LocalPath)));
        var counts = new int[2];
        long bytes = 0;
        Copy(context, new FileInfo(Path.GetFullPath(LocalPath)), JoinPath(directory, name), uid, gid, counts, ref bytes, 0);
        context.Report("copied", "would copy", $"{LocalPath} to {JoinPath(directory, name)} ({counts[0]} file{(counts[0] == 1 ? "" : "s")}, {counts[1]} director{(counts[1] == 1 ? "y" : "ies")}, {CustomizeContext.Size(bytes)}, owner {uid}:{gid})");
    }

    private static string JoinPath(string directory, string name) => directory.TrimEnd('/') + "/" + name;

    private static int ModeOf(FileSystemInfo info, int fallback)
    {
        if (OperatingSystem.IsWindows())
        {
            return fallback;
        }
        return (int)info.UnixFileMode & 0xFFF;
    }

    private void Copy(CustomizeContext context, FileSystemInfo local, string target, uint uid, uint gid, int[] counts, ref long bytes, int depth)
    {
        if (depth > ExtTreeWalker.MaxDepth)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"copy-in: {local.FullName} is nested too deep");
        }
        var existing = context.Editor.Lookup(target);
        if (local.LinkTarget is { } linkTarget)
        {
            if (existing != null)
            {
                if (existing.IsDirectory)
                {
                    throw Conflict(context, target, existing, "a symbolic link");
                }
                context.Editor.Remove(target);
            }
            context.Editor.CreateSymlink(target, linkTarget, new NewInodeAttributes(0x1FF, uid, gid));
            counts[0]++;
            return;
        }
        if (local is DirectoryInfo dir || Directory.Exists(local.FullName))
        {
            dir = local as DirectoryInfo ?? new DirectoryInfo(local.FullName);
            if (existing == null)
            {
                context.Editor.CreateDirectory(target, new NewInodeAttributes(ModeOf(dir, 0x1ED), uid, gid));
            }
            else if (!existing.IsDirectory)
            {
                throw Conflict(context, target, existing, "a directory");
            }
            counts[1]++;
            List<FileSystemInfo> entries;
            try
            {
                entries = dir.EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ImageToolsException(ErrorKind.SourceUnreadable, $"copy-in: cannot list {dir.FullName}: {e.Message}", e) { Path = dir.FullName };
            }
            foreach (var entry in entries)
            {
                Copy(context, entry, JoinPath(target, entry.Name), uid, gid, counts, ref bytes, depth + 1);
            }
            return;
        }
        var file = local as FileInfo ?? new FileInfo(local.FullName);
        if (!file.Exists)
        {
            throw new ImageToolsException(ErrorKind.NotFound, $"copy-in: {file.FullName} does not exist") { Path = file.FullName };
        }
        if (file.Attributes.HasFlag(FileAttributes.Device) || (!OperatingSystem.IsWindows() && !IsRegular(file)))
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"copy-in: {file.FullName} is not a regular file, directory or symbolic link (devices, FIFOs and sockets are not copied)") { Path = file.FullName };
        }
        byte[] content;
        try
        {
            content = File.ReadAllBytes(file.FullName);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"copy-in: cannot read {file.FullName}: {e.Message}", e) { Path = file.FullName };
        }
        var mode = ModeOf(file, 0x1A4);
        if (existing == null)
        {
            context.Editor.CreateFile(target, content, new NewInodeAttributes(mode, uid, gid));
        }
        else if (existing.IsRegularFile)
        {
            context.Editor.Rewrite(target, content);
            context.Editor.SetAttributes(target, mode, uid, gid);
        }
        else
        {
            throw Conflict(context, target, existing, "a file");
        }
        counts[0]++;
        bytes += content.Length;
    }

    private static bool IsRegular(FileInfo file)
    {
        // FileInfo says nothing of FIFOs and sockets; a regular file is what File.OpenHandle can read without blocking.
        var identity = Platform.PlatformIo.Current.GetIdentity(file.FullName);
        return identity.Kind == Platform.FileKind.RegularFile;
    }

    private static ImageToolsException Conflict(CustomizeContext context, string target, ExtInode existing, string what) =>
        new(ErrorKind.WrongInputKind, $"{context.FileSystem.Name}: copy-in: {target} is a {ExtFileSystem.DescribeType(existing.Type)} in the image; it cannot be replaced by {what}") { Path = target };
}

/// <summary>write FILE:CONTENT: the file's whole content (no line break added), created 0644 root or rewritten in place.</summary>
public sealed record WriteFile(string File, string Content) : CustomizeOperation
{
    public override string Name => "write";

    internal override void Run(CustomizeContext context)
    {
        var bytes = Encoding.UTF8.GetBytes(Content);
        var (path, created) = context.WriteFile(File, bytes, CustomizeContext.RootFile);
        context.Report(created ? "created" : "wrote", created ? "would create" : "would write", $"{path} ({CustomizeContext.Size(bytes.Length)})");
    }
}

/// <summary>
/// append-line FILE:LINE: LINE and a line break at the end of FILE (created when absent); when the file does not end
/// with a line break, one goes first (virt-customize's rule). A file whose lines end in CRLF gets CRLF.
/// </summary>
public sealed record AppendLine(string File, string Line) : CustomizeOperation
{
    public override string Name => "append-line";

    internal override void Run(CustomizeContext context)
    {
        var path = context.Canonical(File, followLast: true);
        var existing = context.Find(path);
        var old = existing is { IsRegularFile: true } ? context.Read(existing, path) : [];
        var text = Encoding.UTF8.GetString(old);
        var eol = text.EndsWith("\r\n", StringComparison.Ordinal) || (!text.Contains('\n') && text.EndsWith('\r')) ? "\r\n" : "\n";
        var prefix = text.Length > 0 && !text.EndsWith('\n') ? eol : "";
        var added = Encoding.UTF8.GetBytes(prefix + Line + eol);
        var (_, created) = context.WriteFile(path, [.. old, .. added], CustomizeContext.RootFile);
        context.Report(created ? "created" : "appended to", created ? "would create" : "would append to",
            $"{path} ({CustomizeContext.Size(added.Length)}{(prefix.Length > 0 ? ", a line break first" : "")})");
    }
}

/// <summary>mkdir DIR: the directory and its missing parents (0755, root).</summary>
public sealed record MakeDirectory(string Directory) : CustomizeOperation
{
    public override string Name => "mkdir";

    internal override void Run(CustomizeContext context)
    {
        var made = context.MakeDirectories(Directory, CustomizeContext.RootDirectory);
        if (made.Count == 0)
        {
            context.Note($"{Directory} already exists");
        }
        foreach (var dir in made)
        {
            context.Report("created", "would create", $"{dir} (directory, 0755)");
        }
    }
}

/// <summary>delete PATH: a file, link or whole tree; globs as virt-customize expands them (a pattern that matches nothing is noted).</summary>
public sealed record Delete(string Pattern) : CustomizeOperation
{
    public override string Name => "delete";

    internal override void Run(CustomizeContext context)
    {
        var pattern = Hygiene.PathPattern.Parse(Pattern);
        var scrubView = new Hygiene.ScrubContext(context.Editor, new Hygiene.ScrubOptions());
        var matches = pattern.Matches(scrubView);
        if (matches.Count == 0)
        {
            context.Note($"nothing matches {Pattern}");
            return;
        }
        foreach (var path in matches)
        {
            var inode = context.Editor.Lookup(path)!;
            var count = inode.IsDirectory ? context.Editor.RemoveTree(path) : context.Editor.Remove(path) ? 1 : 0;
            var what = inode.IsDirectory ? $"directory, {count - 1} entr{(count == 2 ? "y" : "ies")} inside"
                : inode.IsRegularFile ? CustomizeContext.Size((long)inode.Size) : ExtFileSystem.DescribeType(inode.Type);
            context.Report("removed", "would remove", $"{path} ({what})");
        }
    }
}

/// <summary>chmod PERMISSIONS:FILE: octal permission bits (a link is followed, as chmod(1) follows it).</summary>
public sealed record ChangeMode(int Permissions, string File) : CustomizeOperation
{
    public override string Name => "chmod";

    internal override void Run(CustomizeContext context)
    {
        var path = context.Canonical(File, followLast: true);
        var inode = context.Find(path)
            ?? throw new ImageToolsException(ErrorKind.NotFound, $"{context.FileSystem.Name}: chmod: {File} does not exist in the image") { Path = File };
        context.Editor.SetAttributes(path, Permissions);
        context.Report("changed", "would change", $"the mode of {path} from {CustomizeContext.Octal(inode.Permissions)} to {CustomizeContext.Octal(Permissions)}");
    }
}

/// <summary>link TARGET:LINK[:LINK...]: symbolic links to TARGET (as ln -sf: an existing file or link is replaced, a directory is not).</summary>
public sealed record MakeLink(string Target, IReadOnlyList<string> Links) : CustomizeOperation
{
    public override string Name => "link";

    internal override void Run(CustomizeContext context)
    {
        foreach (var link in Links)
        {
            var path = context.Canonical(link, followLast: false);
            context.RequireParent(path, link);
            var existing = context.Find(path);
            if (existing is { IsDirectory: true })
            {
                throw new ImageToolsException(ErrorKind.WrongInputKind, $"{context.FileSystem.Name}: link: {link} is a directory; remove it first (delete) to put a link there") { Path = link };
            }
            if (existing != null)
            {
                context.Editor.Remove(path);
            }
            context.Editor.CreateSymlink(path, Target, new NewInodeAttributes(0x1FF));
            context.Report(existing == null ? "created" : "replaced", existing == null ? "would create" : "would replace", $"{path} -> {Target}");
        }
    }
}

/// <summary>root-password password:P | file:F | random | disabled: root's field in /etc/shadow.</summary>
public sealed record SetRootPassword : CustomizeOperation
{
    private SetRootPassword(string? password, string kind, bool generated)
    {
        Password = password;
        Kind = kind;
        Generated = generated;
    }

    /// <summary>The password (null for disabled). Never printed, except a random one, as virt-customize prints it.</summary>
    public string? Password { get; }

    /// <summary>"password", "file", "random" or "disabled".</summary>
    public string Kind { get; }

    public bool Generated { get; }

    public override string Name => "root-password";

    // The record's printed form must not carry the password.
    public override string ToString() => $"root-password {Kind}";

    internal static SetRootPassword From(string argument)
    {
        var colon = argument.IndexOf(':');
        var kind = colon < 0 ? argument : argument[..colon];
        var value = colon < 0 ? null : argument[(colon + 1)..];
        switch (kind)
        {
            case "password" when value is { Length: > 0 }:
                return new SetRootPassword(Check(value, "password:"), kind, false);
            case "file" when value is { Length: > 0 }:
            {
                string first;
                try
                {
                    using var reader = new StreamReader(value);
                    first = reader.ReadLine() ?? "";
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ImageToolsException(e is FileNotFoundException or DirectoryNotFoundException ? ErrorKind.NotFound : ErrorKind.SourceUnreadable,
                        $"root-password file:{value}: cannot read it: {e.Message}", e) { Path = value };
                }
                if (first.Length == 0)
                {
                    throw new ImageToolsException(ErrorKind.InvalidArgument, $"root-password file:{value}: its first line (the password) is empty");
                }
                return new SetRootPassword(Check(first, $"the first line of {value}"), kind, false);
            }
            case "random" when value == null:
            {
                const string alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
                var chars = Enumerable.Range(0, 16).Select(_ => alphabet[System.Security.Cryptography.RandomNumberGenerator.GetInt32(alphabet.Length)]).ToArray();
                return new SetRootPassword(new string(chars), kind, true);
            }
            case "disabled" when value == null:
                return new SetRootPassword(null, kind, false);
            default:
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"root-password: expected password:PASSWORD, file:FILENAME, random or disabled (not '{(kind is "password" or "file" ? kind + ":..." : argument)}')");
        }
    }

    private static string Check(string password, string where) =>
        password.Contains('\n') || password.Contains('\0')
            ? throw new ImageToolsException(ErrorKind.InvalidArgument, $"root-password: {where} holds a line break or NUL, which no password can")
            : password;

    internal override void Run(CustomizeContext context)
    {
        var path = context.Canonical("/etc/shadow", followLast: true);
        if (context.Find(path) is not { IsRegularFile: true } shadow)
        {
            throw new ImageToolsException(ErrorKind.NotFound, $"{context.FileSystem.Name}: the image has no /etc/shadow to set root's password in");
        }
        var text = Encoding.UTF8.GetString(context.Read(shadow, path));
        var lines = text.Split('\n');
        var index = Array.FindIndex(lines, l => l.StartsWith("root:", StringComparison.Ordinal));
        if (index < 0)
        {
            throw new ImageToolsException(ErrorKind.NotFound, $"{context.FileSystem.Name}: /etc/shadow has no entry for root");
        }
        string field, how;
        if (Password == null)
        {
            (field, how) = ("*", "disabled (*)");
        }
        else
        {
            var defs = context.ReadIfPresent("/etc/login.defs");
            var hashing = PasswordHashing.FromLoginDefs(defs == null ? null : Encoding.UTF8.GetString(defs));
            field = hashing.Hash(Password);
            how = $"{hashing.Describe()}; {hashing.Why}";
        }
        var fields = lines[index].Split(':');
        if (fields.Length < 2)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{context.FileSystem.Name}: /etc/shadow: root's entry has no password field");
        }
        fields[1] = field;
        lines[index] = string.Join(':', fields);
        // Rewritten in place: the file keeps its owner, mode (0640/0000) and SELinux label.
        context.Editor.Rewrite(path, Encoding.UTF8.GetBytes(string.Join('\n', lines)));
        context.Report("set", "would set", $"root's password in {path} ({how})");
        if (Generated)
        {
            context.Note($"the random root password is {Password}");
        }
    }
}

/// <summary>timezone ZONE: /etc/localtime a link to /usr/share/zoneinfo/ZONE, /etc/timezone ZONE (refused when the image lacks the zone).</summary>
public sealed partial record SetTimezone : CustomizeOperation
{
    public SetTimezone(string zone)
    {
        if (!ZonePattern().IsMatch(zone) || zone.Split('/').Any(p => p is "." or ".."))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"timezone '{zone}' is not a tz database name (e.g. Europe/Paris, UTC)");
        }
        Zone = zone;
    }

    public string Zone { get; }

    public override string Name => "timezone";

    [GeneratedRegex(@"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-.]+)*$")]
    private static partial Regex ZonePattern();

    internal override void Run(CustomizeContext context)
    {
        var zoneFile = "/usr/share/zoneinfo/" + Zone;
        string? real = null;
        try
        {
            real = context.Canonical(zoneFile, followLast: true);
        }
        catch (ImageToolsException e) when (e.Kind == ErrorKind.NotFound)
        {
        }
        if (real == null || context.Find(real) is not { IsRegularFile: true })
        {
            throw new ImageToolsException(ErrorKind.NotFound,
                $"{context.FileSystem.Name}: timezone {Zone}: the image has no {zoneFile} (is tzdata installed in it? zones are spelt as in the tz database, e.g. Europe/Paris)");
        }
        var localtime = context.Canonical("/etc/localtime", followLast: false);
        context.RequireParent(localtime, "/etc/localtime");
        var existing = context.Find(localtime);
        if (existing is { IsDirectory: true })
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{context.FileSystem.Name}: /etc/localtime is a directory");
        }
        if (existing != null)
        {
            context.Editor.Remove(localtime);
        }
        context.Editor.CreateSymlink(localtime, zoneFile, new NewInodeAttributes(0x1FF));
        context.Report(existing == null ? "created" : "replaced", existing == null ? "would create" : "would replace", $"{localtime} -> {zoneFile}");
        var (path, created) = context.WriteFile("/etc/timezone", Encoding.UTF8.GetBytes(Zone + "\n"), CustomizeContext.RootFile);
        context.Report(created ? "created" : "wrote", created ? "would create" : "would write", $"{path} ({Zone})");
    }
}
