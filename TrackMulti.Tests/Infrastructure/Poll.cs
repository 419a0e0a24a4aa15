using System.Runtime.CompilerServices;

namespace TrackMulti.Tests.Infrastructure;

/// <summary>
/// Waiting for something a background part of the system does, with one budget and one failure message: the one
/// polling loop of the tests. A wait that must not move on before a condition holds goes through here.
/// </summary>
internal static class Poll
{
    public static readonly TimeSpan DefaultBudget = TimeSpan.FromSeconds(30);

    /// <summary>How long a poll waits between two looks, unless told otherwise.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Reads a value every <paramref name="every"/> (50 ms) until <paramref name="holds"/> says it is the one waited for,
    /// and returns it; once the budget is spent, fails with <paramref name="failure"/> of the last value read.
    /// </summary>
    /// <param name="every">Longer than the default where each look is costly (a listing of S3, a browser's click).</param>
    public static async Task<T> UntilAsync<T>(
        Func<Task<T>> read, Func<T, bool> holds, Func<T, string> failure, TimeSpan? budget = null, TimeSpan? every = null)
    {
        var deadline = DateTime.UtcNow + (budget ?? DefaultBudget);
        while (true)
        {
            var value = await read();
            if (holds(value))
            {
                return value;
            }
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail(failure(value));
            }
            await Task.Delay(every ?? DefaultInterval);
        }
    }

    /// <summary>Asks <paramref name="condition"/> every 50 ms until it holds; fails with <paramref name="failure"/> once the budget is spent.</summary>
    public static Task UntilAsync(Func<Task<bool>> condition, string failure, TimeSpan? budget = null, TimeSpan? every = null) =>
        UntilAsync(condition, held => held, _ => failure, budget, every);

    /// <summary>As <see cref="UntilAsync(Func{Task{bool}}, string, TimeSpan?, TimeSpan?)"/>, for a condition read in memory; the failure names it.</summary>
    public static Task UntilAsync(
        Func<bool> condition, [CallerArgumentExpression(nameof(condition))] string? what = null, TimeSpan? budget = null, TimeSpan? every = null) =>
        UntilAsync(() => Task.FromResult(condition()), $"never came true: {what}", budget, every);
}
