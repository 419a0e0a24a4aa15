using System.Reflection;
using Xunit.Sdk;

namespace TrackMulti.Tests.WholeApp;

/// <summary>
/// Fails a whole-app test when a resource logged an error while it ran, unless the test declares it with
/// <see cref="ExpectsResourceErrorAttribute"/> (and then the declared error must have been logged).
/// Put on the whole-app collection, so every test in it is checked.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method)]
public sealed class FailOnResourceErrorsAttribute : BeforeAfterTestAttribute
{
    private int _mark;

    public override void Before(MethodInfo methodUnderTest) => _mark = WholeAppFixture.Errors?.Count ?? 0;

    public override void After(MethodInfo methodUnderTest)
    {
        if (WholeAppFixture.Errors is not { } log)
        {
            return;
        }
        log.WaitUntilQuiet(TimeSpan.FromMilliseconds(100), atMost: TimeSpan.FromSeconds(2));
        var logged = log.Since(_mark).ToList();
        var expected = methodUnderTest.GetCustomAttributes<ExpectsResourceErrorAttribute>().ToList();
        var unseen = expected.Where(e => !logged.Any(e.Matches)).ToList();
        var unexpected = logged.Where(error => !expected.Any(e => e.Matches(error))).ToList();
        Assert.True(unexpected.Count == 0, "Resources logged errors during the test:\n" + string.Join("\n", unexpected));
        Assert.True(unseen.Count == 0, "Declared errors were not logged: " + string.Join("; ", unseen));
    }
}

/// <summary>A resource error this test provokes on purpose: the resource, and a part of the logged text.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class ExpectsResourceErrorAttribute(string resource, string text) : Attribute
{
    public string Resource { get; } = resource;

    public string Text { get; } = text;

    internal bool Matches(ResourceError error) =>
        error.Resource == Resource && error.Text.Contains(Text, StringComparison.Ordinal);

    public override string ToString() => $"{Resource}: …{Text}…";
}
