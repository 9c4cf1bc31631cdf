using System.Diagnostics;
using System.Globalization;
using ImageTools.Core.Sparse;

namespace ImageTools.SparseCopy;

/// <summary>
/// <c>-p</c>: a live line on stderr with bytes done, percent and ETA where the size is known, and the rate.
/// On a terminal the line is redrawn in place 4 times a second; otherwise (a log file) a line a second.
/// </summary>
public sealed class ProgressPrinter : IProgress<CopyProgress>
{
    private readonly TextWriter _writer;
    private readonly bool _terminal;
    private readonly TimeSpan _interval;
    private readonly Stopwatch _sinceLast = Stopwatch.StartNew();
    private int _lastWidth;

    public ProgressPrinter(TextWriter writer, bool terminal)
    {
        _writer = writer;
        _terminal = terminal;
        _interval = terminal ? TimeSpan.FromMilliseconds(250) : TimeSpan.FromSeconds(1);
    }

    public void Report(CopyProgress value)
    {
        // The first line only after one interval too: a rate measured over the first buffer means nothing.
        if (_sinceLast.Elapsed < _interval)
        {
            return;
        }
        _sinceLast.Restart();
        Print(value);
    }

    /// <summary>Prints the final state and ends the live line.</summary>
    public void Finish(CopyProgress last)
    {
        Print(last);
        if (_terminal)
        {
            _writer.WriteLine();
        }
        _writer.Flush();
    }

    private void Print(CopyProgress p)
    {
        var seconds = Math.Max(p.Elapsed.TotalSeconds, 1e-3);
        var rate = p.BytesDone / seconds;
        var text = p.TotalBytes is { } total && total > 0
            ? string.Create(CultureInfo.InvariantCulture,
                $"sparsecopy: {Human(p.BytesDone)} of {Human(total)} ({100.0 * p.BytesDone / total:0.0}%), {Human(p.BytesWritten)} written, {Human((long)rate)}/s, ETA {Eta(rate > 0 ? (total - p.BytesDone) / rate : 0)}")
            : string.Create(CultureInfo.InvariantCulture,
                $"sparsecopy: {Human(p.BytesDone)} copied, {Human(p.BytesWritten)} written, {Human((long)rate)}/s, {Eta(seconds)} elapsed");
        if (_terminal)
        {
            var padded = text.PadRight(_lastWidth);
            _lastWidth = text.Length;
            _writer.Write("\r" + padded);
        }
        else
        {
            _writer.WriteLine(text);
        }
        _writer.Flush();
    }

    /// <summary>Bytes with a binary unit, e.g. "1.5 GiB".</summary>
    public static string Human(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes} B")
            : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }

    private static string Eta(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Min(seconds, 359999));
        return t.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}")
            : string.Create(CultureInfo.InvariantCulture, $"{t.Minutes}:{t.Seconds:00}");
    }
}
