using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;

namespace TrackMulti.Tests.WholeApp;

/// <summary>
/// Every error a resource of a running app logs: a line on its standard error, or a log entry at Error or Critical
/// (.NET's console logger: <c>fail:</c>, <c>crit:</c> with the message lines under it, or JSON; s3rver's <c>error:</c>).
/// Watches every resource and replica from before the app starts.
/// </summary>
internal sealed partial class ResourceErrorLog : IAsyncDisposable
{
    private readonly ConcurrentQueue<ResourceError> _errors = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, Task> _watchers = new();
    private readonly Task _discovery;
    private long _lines;

    private ResourceErrorLog(DistributedApplication app)
    {
        var logs = app.Services.GetRequiredService<ResourceLoggerService>();
        _discovery = Task.Run(async () =>
        {
            await foreach (var resource in app.ResourceNotifications.WatchAsync(_stop.Token))
            {
                _ = _watchers.GetOrAdd(resource.ResourceId, id => Task.Run(() => WatchAsync(logs, resource.Resource.Name, id)));
            }
        });
    }

    /// <summary>Starts watching <paramref name="app"/>, built and not yet started.</summary>
    public static ResourceErrorLog Watch(DistributedApplication app) => new(app);

    /// <summary>How many errors were logged so far: a mark to ask <see cref="Since"/> about.</summary>
    public int Count => _errors.Count;

    /// <summary>The errors logged after <paramref name="mark"/> (a <see cref="Count"/>).</summary>
    public IReadOnlyList<ResourceError> Since(int mark) => [.. _errors.Skip(mark)];

    /// <summary>
    /// Waits until no resource has written a line for <paramref name="quiet"/> (or <paramref name="atMost"/> passed),
    /// so what a test provoked is read before it is judged: lines reach the log a moment after they are written.
    /// </summary>
    public void WaitUntilQuiet(TimeSpan quiet, TimeSpan atMost)
    {
        var deadline = DateTime.UtcNow + atMost;
        var seen = Interlocked.Read(ref _lines);
        while (DateTime.UtcNow < deadline)
        {
            Thread.Sleep(quiet);
            var now = Interlocked.Read(ref _lines);
            if (now == seen)
            {
                return;
            }
            seen = now;
        }
    }

    private async Task WatchAsync(ResourceLoggerService logs, string resource, string resourceId)
    {
        ResourceError? entry = null;
        try
        {
            await foreach (var batch in logs.WatchAsync(resourceId).WithCancellation(_stop.Token))
            {
                Interlocked.Add(ref _lines, batch.Count);
                foreach (var line in batch)
                {
                    var text = Timestamp().Replace(AnsiEscape().Replace(line.Content, ""), "");
                    if (entry is not null && text.StartsWith("      ", StringComparison.Ordinal))
                    {
                        entry.Append(text.Trim()); // the message under a fail:/crit: header
                        continue;
                    }
                    entry = null;
                    if (ErrorHeader().IsMatch(text) || JsonError().IsMatch(text))
                    {
                        entry = new ResourceError(resource, text);
                        _errors.Enqueue(entry);
                    }
                    else if (line.IsErrorMessage)
                    {
                        _errors.Enqueue(new ResourceError(resource, text));
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await Task.WhenAll([_discovery, .. _watchers.Values]);
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }

    [GeneratedRegex(@"\x1B\[[0-9;]*m")]
    private static partial Regex AnsiEscape();

    /// <summary>The time the orchestrator puts before each line.</summary>
    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")]
    private static partial Regex Timestamp();

    /// <summary>.NET's console logger (<c>fail:</c>, <c>crit:</c>) and s3rver's (<c>error:</c>).</summary>
    [GeneratedRegex(@"^(fail|crit|error): ")]
    private static partial Regex ErrorHeader();

    /// <summary>.NET's JSON console logger (the dashboard's).</summary>
    [GeneratedRegex(@"""LogLevel"":""(Error|Critical)""")]
    private static partial Regex JsonError();
}

/// <summary>One error a resource logged: its first line, then the message lines under it.</summary>
internal sealed class ResourceError(string resource, string firstLine)
{
    private readonly List<string> _lines = [firstLine];

    public string Resource { get; } = resource;

    public string Text
    {
        get
        {
            lock (_lines)
            {
                return string.Join(" ", _lines);
            }
        }
    }

    public void Append(string line)
    {
        lock (_lines)
        {
            _lines.Add(line);
        }
    }

    public override string ToString() => $"{Resource}: {Text}";
}
