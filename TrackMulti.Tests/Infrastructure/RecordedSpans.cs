using System.Collections;
using System.Collections.Concurrent;
using System.Diagnostics;
using TrackMulti.Api.Telemetry;

namespace TrackMulti.Tests.Infrastructure;

/// <summary>Every span the Api's source ends while this lives, in the order they ended (of every test running meanwhile).</summary>
internal sealed class RecordedSpans : IEnumerable<Activity>, IDisposable
{
    private readonly ConcurrentQueue<Activity> _spans = new();
    private readonly ActivityListener _listener;

    public RecordedSpans()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == TrackTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _spans.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public IEnumerator<Activity> GetEnumerator() => _spans.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public void Dispose() => _listener.Dispose();
}
