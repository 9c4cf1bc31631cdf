namespace ImageTools.Core.Boot;

/// <summary>
/// GRUB's <c>moddep.lst</c>: one line per module, <c>name: dep dep …</c>. grub-mkimage uses it to pull
/// the dependencies of the modules it embeds into core.img; <see cref="Resolve"/> reproduces its order
/// exactly (GRUB 2.06 util/resolve.c), because the kernel loads embedded modules one after the other
/// and each one's dependencies must already be loaded.
/// </summary>
public sealed class GrubModuleDependencies
{
    private readonly Dictionary<string, string[]> _dependencies;

    private GrubModuleDependencies(Dictionary<string, string[]> dependencies)
    {
        _dependencies = dependencies;
    }

    /// <summary>The modules the file lists, in no particular order.</summary>
    public IEnumerable<string> Modules => _dependencies.Keys;

    /// <summary>The direct dependencies of a module as the file lists them (empty when it lists none or is absent).</summary>
    public IReadOnlyList<string> DependenciesOf(string module) =>
        _dependencies.TryGetValue(module, out var deps) ? deps : [];

    /// <summary>
    /// Parses the text of moddep.lst. <paramref name="sourceName"/> names it in error messages. Like
    /// grub-mkimage, a module listed twice takes its last line; unlike it, blank lines are allowed.
    /// </summary>
    public static GrubModuleDependencies Parse(string text, string sourceName)
    {
        var dependencies = new Dictionary<string, string[]>(StringComparer.Ordinal);
        int lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.TrimEnd('\r');
            if (line.Trim().Length == 0)
            {
                continue;
            }
            int colon = line.IndexOf(':');
            if (colon < 0)
            {
                throw Corrupt(sourceName, lineNumber, $"no ':' in \"{line}\" (expected \"module: dependency ...\")");
            }
            var name = line[..colon];
            if (!IsModuleName(name))
            {
                throw Corrupt(sourceName, lineNumber, $"\"{name}\" is not a module name");
            }
            var deps = line[(colon + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            foreach (var dep in deps)
            {
                if (!IsModuleName(dep))
                {
                    throw Corrupt(sourceName, lineNumber, $"dependency \"{dep}\" of {name} is not a module name");
                }
            }
            dependencies[name] = deps;
        }
        if (dependencies.Count == 0)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{sourceName}: lists no modules") { Path = sourceName };
        }
        return new GrubModuleDependencies(dependencies);
    }

    /// <summary>
    /// The modules to embed for <paramref name="requested"/>, in grub-mkimage's order: each requested
    /// module in turn, depth first, its dependencies before it and visited in the reverse of their
    /// listed order (util/resolve.c prepends while reading), a module already added skipped. A module
    /// the file does not list is taken without dependencies, as grub-mkimage does. A dependency cycle
    /// (which would make grub-mkimage recurse forever) is an error.
    /// </summary>
    public IReadOnlyList<string> Resolve(IEnumerable<string> requested)
    {
        var order = new List<string>();
        var added = new HashSet<string>(StringComparer.Ordinal);
        var inProgress = new List<string>();
        foreach (var module in requested)
        {
            if (!IsModuleName(module))
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"\"{module}\" is not a GRUB module name");
            }
            Visit(module, order, added, inProgress);
        }
        return order;
    }

    private void Visit(string module, List<string> order, HashSet<string> added, List<string> inProgress)
    {
        if (added.Contains(module))
        {
            return;
        }
        if (inProgress.Contains(module))
        {
            var cycle = string.Join(" -> ", inProgress.SkipWhile(m => m != module).Append(module));
            throw new ImageToolsException(ErrorKind.CorruptImage, $"moddep.lst: dependency cycle {cycle}");
        }
        inProgress.Add(module);
        var deps = DependenciesOf(module);
        for (int i = deps.Count - 1; i >= 0; i--)
        {
            Visit(deps[i], order, added, inProgress);
        }
        inProgress.RemoveAt(inProgress.Count - 1);
        added.Add(module);
        order.Add(module);
    }

    /// <summary>GRUB module names: letters, digits, '_', '-' and '.' (e.g. part_msdos, gcry_sha256).</summary>
    public static bool IsModuleName(string name) =>
        name.Length > 0 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.') && name != "." && name != "..";

    private static ImageToolsException Corrupt(string sourceName, int line, string what) =>
        new(ErrorKind.CorruptImage, $"{sourceName}, line {line}: {what}") { Path = sourceName };
}
