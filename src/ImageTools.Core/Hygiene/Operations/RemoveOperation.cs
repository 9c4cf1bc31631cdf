namespace ImageTools.Core.Hygiene.Operations;

/// <summary>
/// remove: the paths given with --remove (absolute, globs allowed, see <see cref="PathPattern"/>), each
/// removed with everything below it. A pattern that matches nothing is reported, not an error.
/// </summary>
public sealed class RemoveOperation : ScrubOperation
{
    public override string Name => "remove";

    public override string Description => "remove the paths given with --remove PATH (repeatable; globs * ? [..] and ** allowed)";

    public override bool EnabledByDefault => false;

    public override void Run(ScrubContext context)
    {
        if (context.Options.RemovePaths.Count == 0)
        {
            context.Note("no --remove paths given");
            return;
        }
        foreach (var text in context.Options.RemovePaths)
        {
            var pattern = PathPattern.Parse(text);
            var matches = pattern.Matches(context);
            if (matches.Count == 0)
            {
                context.Note($"'{text}' matches nothing");
            }
            foreach (var path in matches)
            {
                context.Remove(path, matches.Count > 1 || path != text ? $"matches '{text}'" : null);
            }
        }
    }
}
