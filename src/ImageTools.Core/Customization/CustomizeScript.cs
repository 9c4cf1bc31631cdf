namespace ImageTools.Core.Customization;

/// <summary>
/// A file of customize operations, in virt-customize's <c>--commands-from-file</c> syntax: one operation per
/// line, its name without the "--", a space, its argument (<c>hostname web01</c>, <c>write /etc/motd:hello</c>).
/// Blank lines and lines starting with '#' are skipped; leading spaces are ignored. A line ending in a backslash
/// continues on the next one, the line break kept in the argument (so <c>write</c> can hold several lines;
/// <c>\\</c> at the end is a literal backslash).
/// </summary>
public static class CustomizeScript
{
    public static IReadOnlyList<CustomizeOperation> ParseFile(string path, CustomizeOperation.HostEnvironment? host = null)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(e is FileNotFoundException or DirectoryNotFoundException ? ErrorKind.NotFound : ErrorKind.SourceUnreadable,
                $"{path}: cannot read the customize file: {e.Message}", e) { Path = path };
        }
        return Parse(text, path, host);
    }

    public static IReadOnlyList<CustomizeOperation> Parse(string text, string name, CustomizeOperation.HostEnvironment? host = null)
    {
        var operations = new List<CustomizeOperation>();
        var lines = text.Replace("\r\n", "\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var first = i + 1;
            var line = lines[i].TrimStart();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            while (EndsWithContinuation(line) && i + 1 < lines.Length)
            {
                line = line[..^1] + "\n" + lines[++i];
            }
            if (line.EndsWith("\\\\", StringComparison.Ordinal))
            {
                line = line[..^1];
            }
            var space = line.IndexOf(' ');
            var op = space < 0 ? line : line[..space];
            var argument = space < 0 ? "" : line[(space + 1)..];
            if (op.StartsWith("--", StringComparison.Ordinal))
            {
                op = op[2..];
            }
            if (argument.Length == 0)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"{name}:{first}: '{op}' needs an argument (NAME ARGUMENT, as virt-customize's --NAME ARGUMENT)") { Path = name };
            }
            try
            {
                operations.Add(CustomizeOperation.Parse(op, argument, host));
            }
            catch (ImageToolsException e)
            {
                throw new ImageToolsException(e.Kind, $"{name}:{first}: {e.Message}", e) { Path = name };
            }
        }
        return operations;
    }

    private static bool EndsWithContinuation(string line)
    {
        var backslashes = line.Length - line.TrimEnd('\\').Length;
        return backslashes % 2 == 1;
    }
}
