using System.Globalization;
using System.Text;

namespace ImageTools.Core.Boot;

/// <summary>A menu entry as read back from a grub.cfg.</summary>
/// <param name="Title">The entry's title (inside a submenu: "submenu title>entry title", as GRUB names it for <c>default</c>).</param>
/// <param name="KernelPath">The first argument of <c>linux</c> (or <c>linux16</c>, <c>linuxefi</c>), or null when the entry boots no Linux kernel.</param>
/// <param name="CommandLine">The kernel command line: the rest of the <c>linux</c> line, words joined by one blank.</param>
/// <param name="InitrdPaths">The arguments of <c>initrd</c>.</param>
/// <param name="SearchUuid">The filesystem UUID a <c>search --fs-uuid --set=root</c> in the entry looks for, when it has one.</param>
/// <param name="RootSetting">The value of a <c>set root=…</c> in the entry, when it has one.</param>
public sealed record GrubConfigEntry(string Title, string? KernelPath, string? CommandLine, IReadOnlyList<string> InitrdPaths, string? SearchUuid, string? RootSetting)
{
    /// <summary>
    /// Where GRUB reads the kernel from: the filesystem found by <see cref="SearchUuid"/> (the root filesystem,
    /// in fsmaker's menus), else <c>$root</c> as the prefix set it (the boot partition).
    /// </summary>
    public GrubFileSource Source => SearchUuid != null ? GrubFileSource.RootFilesystem : GrubFileSource.BootPartition;
}

/// <summary>What a grub.cfg says: its menu entries and the <c>default</c> and <c>timeout</c> settings.</summary>
public sealed record GrubConfigSummary(IReadOnlyList<GrubConfigEntry> Entries, string? Default, string? Timeout);

/// <summary>
/// Reads the menu out of a grub.cfg, the counterpart of <see cref="GrubConfigWriter"/> (and good enough for the
/// files grub-mkconfig writes): GRUB's script syntax is tokenised the way GRUB's lexer does it (blanks separate
/// words; single quotes take everything literally; inside double quotes and outside quotes a backslash escapes
/// the next character; <c>#</c> starting a word comments out the rest of the line; a newline or <c>;</c> ends a
/// command; <c>{</c> and <c>}</c> open and close a block). Variables are not expanded: a <c>$word</c> stays as
/// written. Never throws on odd input: what it cannot make sense of is skipped.
/// </summary>
public static class GrubConfigReader
{
    /// <summary>grub.cfg files larger than this are not menus fsmaker or grub-mkconfig wrote; read only this much.</summary>
    public const int MaximumLength = 1 << 20;

    private static readonly string[] LinuxCommands = ["linux", "linux16", "linuxefi", "kernel"];
    private static readonly string[] InitrdCommands = ["initrd", "initrd16", "initrdefi"];

    /// <summary>menuentry options that take a separate value (<c>--class debian</c>).</summary>
    private static readonly string[] OptionsWithValue = ["--class", "--users", "--hotkey", "--id", "--source"];

    public static GrubConfigSummary Read(string text)
    {
        if (text.Length > MaximumLength)
        {
            text = text[..MaximumLength];
        }
        var commands = Parse(Tokenise(text));
        var entries = new List<GrubConfigEntry>();
        string? defaultEntry = null, timeout = null;
        Walk(commands, "", entries, ref defaultEntry, ref timeout);
        return new GrubConfigSummary(entries, defaultEntry, timeout);
    }

    // ---- Commands --------------------------------------------------------------------------------

    /// <summary>One command: its words, and the block that follows it (<c>menuentry … { … }</c>), if any.</summary>
    private sealed record Command(IReadOnlyList<string> Words, IReadOnlyList<Command>? Block);

    private static void Walk(IReadOnlyList<Command> commands, string titlePrefix, List<GrubConfigEntry> entries, ref string? defaultEntry, ref string? timeout)
    {
        foreach (var command in commands)
        {
            var name = command.Words.Count > 0 ? command.Words[0] : "";
            if (name == "menuentry" && command.Block != null)
            {
                entries.Add(ReadEntry(titlePrefix + Title(command.Words), command.Block));
            }
            else if (name == "submenu" && command.Block != null)
            {
                Walk(command.Block, titlePrefix + Title(command.Words) + ">", entries, ref defaultEntry, ref timeout);
            }
            else if (name == "set" && command.Words.Count >= 2)
            {
                var (variable, value) = SplitAssignment(command.Words[1]);
                if (variable == "default")
                {
                    defaultEntry = value;
                }
                else if (variable == "timeout")
                {
                    timeout = value;
                }
            }
            else if (command.Block != null && name != "function")
            {
                // if/while bodies hold settings and entries too; function bodies run only when called.
                Walk(command.Block, titlePrefix, entries, ref defaultEntry, ref timeout);
            }
        }
    }

    private static string Title(IReadOnlyList<string> words)
    {
        for (var i = 1; i < words.Count; i++)
        {
            var w = words[i];
            if (w.StartsWith("--", StringComparison.Ordinal))
            {
                if (!w.Contains('=') && OptionsWithValue.Contains(w))
                {
                    i++;
                }
                continue;
            }
            if (w.StartsWith("$menuentry_id_option", StringComparison.Ordinal))
            {
                i++; // grub-mkconfig writes "$menuentry_id_option 'id'", which expands to "--id 'id'"
                continue;
            }
            return w;
        }
        return "";
    }

    private static GrubConfigEntry ReadEntry(string title, IReadOnlyList<Command> body)
    {
        string? kernel = null, commandLine = null, searchUuid = null, rootSetting = null;
        var initrds = new List<string>();
        foreach (var command in Flatten(body))
        {
            var words = command.Words;
            if (words.Count == 0)
            {
                continue;
            }
            var name = words[0];
            if (LinuxCommands.Contains(name) && words.Count >= 2)
            {
                kernel = words[1];
                commandLine = string.Join(' ', words.Skip(2));
            }
            else if (InitrdCommands.Contains(name))
            {
                initrds.Clear();
                initrds.AddRange(words.Skip(1));
            }
            else if (name == "search")
            {
                searchUuid = SearchedUuid(words) ?? searchUuid;
            }
            else if (name == "set" && words.Count >= 2 && SplitAssignment(words[1]) is ("root", var value))
            {
                rootSetting = value;
            }
        }
        return new GrubConfigEntry(title, kernel, commandLine, initrds, searchUuid, rootSetting);
    }

    /// <summary>
    /// The UUID of <c>search [--no-floppy] --fs-uuid|-u [--set=root|--set root] [--hint…] UUID</c>, when the search
    /// sets <c>root</c> (its default variable).
    /// </summary>
    private static string? SearchedUuid(IReadOnlyList<string> words)
    {
        var byUuid = false;
        var variable = "root";
        string? last = null;
        for (var i = 1; i < words.Count; i++)
        {
            var w = words[i];
            if (w is "--fs-uuid" or "-u")
            {
                byUuid = true;
            }
            else if (w.StartsWith("--set=", StringComparison.Ordinal))
            {
                variable = w["--set=".Length..];
            }
            else if (w is "--set" or "-s")
            {
                // "--set root" or a bare "--set" (then the variable is root).
                if (i + 1 < words.Count && !words[i + 1].StartsWith('-') && i + 2 < words.Count)
                {
                    variable = words[++i];
                }
            }
            else if (w is "--hint" or "--hint-bios" or "--hint-efi" or "--hint-baremetal" or "--hint-ieee1275" or "--hint-arc")
            {
                i++;
            }
            else if (!w.StartsWith('-'))
            {
                last = w;
            }
        }
        return byUuid && variable == "root" && last != null ? last.ToLowerInvariant() : null;
    }

    private static IEnumerable<Command> Flatten(IReadOnlyList<Command> commands)
    {
        foreach (var c in commands)
        {
            yield return c;
            if (c.Block != null)
            {
                foreach (var inner in Flatten(c.Block))
                {
                    yield return inner;
                }
            }
        }
    }

    private static (string Variable, string Value) SplitAssignment(string word)
    {
        var equals = word.IndexOf('=');
        return equals < 0 ? (word, "") : (word[..equals], word[(equals + 1)..]);
    }

    // ---- Parsing ---------------------------------------------------------------------------------

    /// <summary>A token: a word, the end of a command, or a brace.</summary>
    private readonly record struct Token(TokenKind Kind, string Text);

    private enum TokenKind
    {
        Word,
        EndOfCommand,
        OpenBrace,
        CloseBrace,
    }

    private static List<Command> Parse(List<Token> tokens)
    {
        var position = 0;
        return ParseBlock(tokens, ref position, depth: 0);
    }

    private static List<Command> ParseBlock(List<Token> tokens, ref int position, int depth)
    {
        var commands = new List<Command>();
        var words = new List<string>();
        while (position < tokens.Count)
        {
            var token = tokens[position++];
            switch (token.Kind)
            {
                case TokenKind.Word:
                    words.Add(token.Text);
                    break;
                case TokenKind.EndOfCommand:
                    if (words.Count > 0)
                    {
                        commands.Add(new Command(words, null));
                        words = new List<string>();
                    }
                    break;
                case TokenKind.OpenBrace:
                    // A block belongs to the command before it; nesting is bounded so no input can exhaust the stack.
                    var block = depth < 32 ? ParseBlock(tokens, ref position, depth + 1) : [];
                    commands.Add(new Command(words, block));
                    words = new List<string>();
                    break;
                case TokenKind.CloseBrace:
                    if (words.Count > 0)
                    {
                        commands.Add(new Command(words, null));
                    }
                    if (depth > 0)
                    {
                        return commands;
                    }
                    words = new List<string>();
                    break;
            }
        }
        if (words.Count > 0)
        {
            commands.Add(new Command(words, null));
        }
        return commands;
    }

    private static List<Token> Tokenise(string text)
    {
        var tokens = new List<Token>();
        var word = new StringBuilder();
        var inWord = false;
        var i = 0;

        void EndWord()
        {
            if (!inWord)
            {
                return;
            }
            var w = word.ToString();
            // Braces are tokens of their own only when they stand alone as a word.
            tokens.Add(w switch
            {
                "{" => new Token(TokenKind.OpenBrace, w),
                "}" => new Token(TokenKind.CloseBrace, w),
                _ => new Token(TokenKind.Word, w),
            });
            word.Clear();
            inWord = false;
        }

        while (i < text.Length)
        {
            var c = text[i];
            if (c == '#' && !inWord)
            {
                while (i < text.Length && text[i] != '\n')
                {
                    i++;
                }
                continue;
            }
            if (c is '\n' or ';')
            {
                EndWord();
                tokens.Add(new Token(TokenKind.EndOfCommand, c.ToString(CultureInfo.InvariantCulture)));
                i++;
                continue;
            }
            if (c is ' ' or '\t' or '\r')
            {
                EndWord();
                i++;
                continue;
            }
            if (c == '\\' && i + 1 < text.Length && text[i + 1] == '\n')
            {
                i += 2; // a line continuation joins the lines without starting a word
                continue;
            }
            inWord = true;
            if (c == '\\')
            {
                if (i + 1 < text.Length)
                {
                    word.Append(text[i + 1]);
                }
                i += 2;
                continue;
            }
            if (c == '\'')
            {
                var end = text.IndexOf('\'', i + 1);
                end = end < 0 ? text.Length : end;
                word.Append(text, i + 1, end - i - 1);
                i = end + 1;
                continue;
            }
            if (c == '"')
            {
                i++;
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length && text[i + 1] is '"' or '\\' or '$')
                    {
                        i++;
                    }
                    word.Append(text[i]);
                    i++;
                }
                i++;
                continue;
            }
            word.Append(c);
            i++;
        }
        EndWord();
        return tokens;
    }
}
