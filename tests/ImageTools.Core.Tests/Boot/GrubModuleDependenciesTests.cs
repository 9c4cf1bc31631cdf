using FluentAssertions;
using ImageTools.Core.Boot;
using Xunit;

namespace ImageTools.Core.Tests.Boot;

/// <summary>
/// grub-mkimage's order (util/resolve.c) on small made-up lists; the comparison with grub-mkimage's real
/// output on real modules is in ImageTools.Boot.Tests (GrubMkimageComparisonTests).
/// </summary>
public sealed class GrubModuleDependenciesTests
{
    private static GrubModuleDependencies Parse(string text) => GrubModuleDependencies.Parse(text, "moddep.lst");

    [Fact]
    public void Dependencies_come_first_in_the_reverse_of_their_listed_order()
    {
        var deps = Parse("app: a b c\na:\nb:\nc:\n");

        deps.Resolve(["app"]).Should().Equal("c", "b", "a", "app");
    }

    [Fact]
    public void Depth_first_and_a_module_already_added_is_not_added_again()
    {
        var deps = Parse("x: shared y\ny: shared z\nz:\nshared:\nw: z\n");

        // x's deps reversed: y first (→ its deps reversed: z, shared; then y), then shared (already there).
        deps.Resolve(["x", "w", "z"]).Should().Equal("z", "shared", "y", "x", "w");
    }

    [Fact]
    public void A_module_the_list_does_not_know_has_no_dependencies()
    {
        Parse("a: b\nb:\n").Resolve(["unknown", "a"]).Should().Equal("unknown", "b", "a");
    }

    [Fact]
    public void A_module_listed_twice_takes_its_last_line_and_blank_lines_are_allowed()
    {
        Parse("a: b\n\nb:\nc:\na: c\r\n").Resolve(["a"]).Should().Equal("c", "a");
    }

    [Fact]
    public void A_cycle_is_an_error_naming_it()
    {
        var deps = Parse("a: b\nb: c\nc: a\n");

        var act = () => deps.Resolve(["a"]);

        act.Should().Throw<ImageToolsException>().WithMessage("*cycle a -> b -> c -> a*");
    }

    [Theory]
    [InlineData("a b c\n", "*line 1*no ':'*")]
    [InlineData("ok:\nbad name: x\n", "*line 2*\"bad name\" is not a module name*")]
    [InlineData("a: b$\n", "*line 1*dependency \"b$\"*")]
    [InlineData("\n\n", "*lists no modules*")]
    public void Malformed_lists_are_refused_with_the_line(string text, string message)
    {
        FluentActions.Invoking(() => Parse(text)).Should().Throw<ImageToolsException>()
            .Where(e => e.Kind == ErrorKind.CorruptImage).WithMessage(message);
    }
}
