using System.Buffers;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// The body in one piece, read in place: where it lies when it is one segment, else copied into a pooled array,
/// given back on dispose (every line is a copy, so nothing read keeps it).
/// </summary>
internal readonly struct ContiguousBody : IDisposable
{
    private readonly byte[]? _rented;

    public ContiguousBody(ReadOnlySequence<byte> body)
    {
        if (body.IsSingleSegment)
        {
            Memory = body.First;
            return;
        }
        _rented = ArrayPool<byte>.Shared.Rent(checked((int)body.Length));
        body.CopyTo(_rented);
        Memory = _rented.AsMemory(0, (int)body.Length);
    }

    public ReadOnlyMemory<byte> Memory { get; }

    public void Dispose()
    {
        if (_rented is not null)
        {
            ArrayPool<byte>.Shared.Return(_rented);
        }
    }
}
