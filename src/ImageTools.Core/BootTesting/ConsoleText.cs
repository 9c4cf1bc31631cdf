using System.Text;
using System.Text.RegularExpressions;

namespace ImageTools.Core.BootTesting;

/// <summary>
/// A serial console's bytes as text to match against: SeaBIOS, GRUB's serial terminal and OVMF write CR and
/// ANSI escape sequences (cursor moves, colours), sometimes in the middle of a word, so they are removed.
/// </summary>
public static partial class ConsoleText
{
    // CSI sequences (ESC [ params intermediates final), two-character ESC sequences and charset selections.
    [GeneratedRegex(@"\x1B\[[0-9;?=<>]*[ -/]*[@-~]|\x1B[()][0-9A-Za-z]|\x1B[@-Z\\-_=>78]")]
    private static partial Regex EscapeSequenceRegex();

    /// <summary>The bytes as text without CR, escape sequences or other control characters (tab and newline kept).</summary>
    public static string Clean(ReadOnlySpan<byte> raw)
    {
        var text = Encoding.Latin1.GetString(raw);
        text = EscapeSequenceRegex().Replace(text, "");
        var clean = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (c == '\n' || c == '\t' || (c >= ' ' && c != '\x7F'))
            {
                clean.Append(c);
            }
        }
        return clean.ToString();
    }

    /// <summary>The last <paramref name="count"/> non-empty lines of a cleaned console.</summary>
    public static IReadOnlyList<string> LastLines(string clean, int count)
    {
        var lines = clean.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToArray();
        return lines.Length <= count ? lines : lines[^count..];
    }

    /// <summary>The whole line of <paramref name="text"/> around <paramref name="index"/>, trimmed.</summary>
    public static string LineAt(string text, int index)
    {
        var start = index <= 0 ? 0 : text.LastIndexOf('\n', Math.Min(index, text.Length) - 1) + 1;
        var end = text.IndexOf('\n', Math.Min(index, text.Length));
        return (end < 0 ? text[start..] : text[start..end]).Trim();
    }
}
