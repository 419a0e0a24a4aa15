using System.Runtime.CompilerServices;

namespace TrackMulti.Tests.Infrastructure;

/// <summary>Waiting for something a background part of the system does, with one budget and one failure message.</summary>
internal static class Poll
{
    public static readonly TimeSpan DefaultBudget = TimeSpan.FromSeconds(30);

    /// <summary>Asks <paramref name="condition"/> every 50 ms until it holds; fails with <paramref name="failure"/> once the budget is spent.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string failure, TimeSpan? budget = null)
    {
        var deadline = DateTime.UtcNow + (budget ?? DefaultBudget);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail(failure);
            }
            await Task.Delay(50);
        }
    }

    /// <summary>As <see cref="UntilAsync(Func{Task{bool}}, string, TimeSpan?)"/>, for a condition read in memory; the failure names it.</summary>
    public static Task UntilAsync(Func<bool> condition, [CallerArgumentExpression(nameof(condition))] string? what = null, TimeSpan? budget = null) =>
        UntilAsync(() => Task.FromResult(condition()), $"never came true: {what}", budget);
}
