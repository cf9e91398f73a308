"""What every party of an inter-library loan shares: applying a transaction's messages in
``seq`` order (parking early ones, ignoring repeats) and numbering the messages it sends."""
