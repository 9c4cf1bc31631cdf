using System.Text;
using System.Text.RegularExpressions;

namespace ImageTools.Core.Hygiene;

/// <summary>
/// An absolute path pattern for <c>--remove</c>: shell globs per component (<c>*</c> and <c>?</c> never
/// match '/', <c>[abc]</c>, <c>[a-z]</c> and <c>[!x]</c> classes), plus <c>**</c> as a whole component for
/// any number of directories (zero included). A name starting with '.' is matched by <c>*</c>, as
/// <c>rm -rf /tmp/*</c> would not; scripts that clean an image mean the dot files too. Matching walks the
/// image from the root and only descends where a component can match, so a pattern never reads the whole
/// tree unless it starts with <c>/**</c>.
/// </summary>
public sealed class PathPattern
{
    private readonly string[] _components;
    private readonly Regex?[] _matchers;

    private PathPattern(string text, string[] components)
    {
        Text = text;
        _components = components;
        _matchers = components.Select(c => c == "**" || !HasWildcard(c) ? null : new Regex("^" + GlobToRegex(c) + "$", RegexOptions.CultureInvariant)).ToArray();
    }

    public string Text { get; }

    public static PathPattern Parse(string text)
    {
        if (!text.StartsWith('/'))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"path to remove '{text}': paths inside the image are absolute (start with /)");
        }
        var components = text.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (components.Length == 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"path to remove '{text}' would remove the whole filesystem");
        }
        if (components.Any(c => c is "." or ".."))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"path to remove '{text}': '.' and '..' are not allowed in a pattern");
        }
        if (components.All(c => c == "**"))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"path to remove '{text}' would remove the whole filesystem");
        }
        return new PathPattern(text, components);
    }

    /// <summary>Every existing path the pattern matches, outermost first (so a matched directory hides what is below it).</summary>
    public IReadOnlyList<string> Matches(ScrubContext context)
    {
        var results = new SortedSet<string>(StringComparer.Ordinal);
        Match(context, "/", 0, results, new HashSet<(string, int)>());
        // Drop matches inside a matched directory: removing the directory removes them.
        var outermost = new List<string>();
        foreach (var path in results)
        {
            if (!outermost.Any(o => path.StartsWith(o + "/", StringComparison.Ordinal)))
            {
                outermost.Add(path);
            }
        }
        return outermost;
    }

    private void Match(ScrubContext context, string directory, int index, SortedSet<string> results, HashSet<(string, int)> visited)
    {
        if (!visited.Add((directory, index)))
        {
            return;
        }
        var component = _components[index];
        var last = index == _components.Length - 1;
        if (component == "**")
        {
            if (last)
            {
                foreach (var (path, _) in context.List(directory))
                {
                    results.Add(path);
                }
                return;
            }
            // Zero directories, or one more and stay on "**".
            Match(context, directory, index + 1, results, visited);
            foreach (var (path, inode) in context.List(directory))
            {
                if (inode.IsDirectory)
                {
                    Match(context, path, index, results, visited);
                }
            }
            return;
        }
        IEnumerable<string> candidates;
        if (_matchers[index] is { } matcher)
        {
            candidates = context.List(directory).Select(c => c.Path).Where(p => matcher.IsMatch(p[(p.LastIndexOf('/') + 1)..]));
        }
        else
        {
            var path = ScrubContext.Join(directory, component);
            candidates = context.Lookup(path) != null ? [path] : [];
        }
        foreach (var path in candidates)
        {
            if (last)
            {
                results.Add(path);
            }
            else if (context.Directory(path) != null && context.Lookup(path) is { IsDirectory: true })
            {
                Match(context, path, index + 1, results, visited);
            }
        }
    }

    private static bool HasWildcard(string component) => component.IndexOfAny(['*', '?', '[']) >= 0;

    private static string GlobToRegex(string glob)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < glob.Length; i++)
        {
            var c = glob[i];
            switch (c)
            {
                case '*':
                    sb.Append("[^/]*");
                    break;
                case '?':
                    sb.Append("[^/]");
                    break;
                case '[':
                    var close = glob.IndexOf(']', i + 2);
                    if (close < 0)
                    {
                        sb.Append(@"\[");
                        break;
                    }
                    var body = glob[(i + 1)..close];
                    var negate = body.StartsWith('!') || body.StartsWith('^');
                    if (negate)
                    {
                        body = body[1..];
                    }
                    sb.Append('[').Append(negate ? "^" : "").Append(body.Replace(@"\", @"\\").Replace("[", @"\[")).Append(']');
                    i = close;
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }
        return sb.ToString();
    }
}
