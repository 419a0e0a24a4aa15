using System.Text.Json;
using System.Text.Json.Serialization;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Sinks.Fme;

/// <summary>
/// Builds one post to FME's events API from a stream's rows, in the shape its endpoint takes: events to
/// <c>events/bulk</c>, impressions (grouped by flag) to <c>testImpressions/bulk</c>, counts to <c>testImpressions/count</c>.
/// </summary>
internal abstract class FmePost
{
    /// <summary>The endpoint, relative to <c>FME_EVENTS_URL</c>.</summary>
    public abstract string Path { get; }

    /// <summary>Rows in the post so far.</summary>
    public abstract int Count { get; }

    /// <summary>Row bytes in the post so far (a post goes early past a size).</summary>
    public int Bytes { get; private set; }

    /// <summary>Adds a row; false when it cannot go to FME (an event without a key).</summary>
    /// <exception cref="JsonException">The line is not one of this stream's rows.</exception>
    public bool Add(byte[] line)
    {
        if (!AddRow(line))
        {
            return false;
        }
        Bytes += line.Length;
        return true;
    }

    public abstract byte[] Body();

    public virtual void AddHeaders(HttpRequestMessage request)
    {
    }

    public void Clear()
    {
        Bytes = 0;
        ClearRows();
    }

    protected abstract bool AddRow(byte[] line);

    protected abstract void ClearRows();

    public static FmePost For(string stream) => stream switch
    {
        Streams.Impressions => new ImpressionsPost(),
        Streams.ImpressionCounts => new CountsPost(),
        _ => new EventsPost(),
    };

    private sealed class EventsPost : FmePost
    {
        private readonly List<FmeEvent> _events = [];

        public override string Path => "events/bulk";
        public override int Count => _events.Count;

        protected override bool AddRow(byte[] line)
        {
            if (FmeEvent.From(TrackEvent.FromJsonLine(line)) is not { } fmeEvent)
            {
                return false;
            }
            _events.Add(fmeEvent);
            return true;
        }

        public override byte[] Body() => JsonSerializer.SerializeToUtf8Bytes(_events, FmeJsonContext.Default.ListFmeEvent);

        protected override void ClearRows() => _events.Clear();
    }

    private sealed class ImpressionsPost : FmePost
    {
        private readonly List<Impression> _impressions = [];

        public override string Path => "testImpressions/bulk";
        public override int Count => _impressions.Count;

        protected override bool AddRow(byte[] line)
        {
            _impressions.Add(Impression.FromJsonLine(line));
            return true;
        }

        public override byte[] Body() => JsonSerializer.SerializeToUtf8Bytes(
            [.. _impressions.GroupBy(i => i.Feature, StringComparer.Ordinal).Select(flag => new FmeImpressionGroup(
                flag.Key, [.. flag.Select(i => new FmeImpression(i.Key, i.Treatment, i.Time, i.ChangeNumber, i.Label, i.BucketingKey, i.PreviousTime))]))],
            FmeJsonContext.Default.ListFmeImpressionGroup);

        // The SDK's default mode; the rows do not keep which mode each SDK ran in.
        public override void AddHeaders(HttpRequestMessage request) =>
            request.Headers.TryAddWithoutValidation("SplitSDKImpressionsMode", "OPTIMIZED");

        protected override void ClearRows() => _impressions.Clear();
    }

    private sealed class CountsPost : FmePost
    {
        private readonly List<FmeImpressionCount> _counts = [];

        public override string Path => "testImpressions/count";
        public override int Count => _counts.Count;

        protected override bool AddRow(byte[] line)
        {
            var count = ImpressionCount.FromJsonLine(line);
            _counts.Add(new FmeImpressionCount(count.Feature, count.TimeFrame, count.Count));
            return true;
        }

        public override byte[] Body() => JsonSerializer.SerializeToUtf8Bytes(new FmeImpressionCounts([.. _counts]), FmeJsonContext.Default.FmeImpressionCounts);

        protected override void ClearRows() => _counts.Clear();
    }
}
